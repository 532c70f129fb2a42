import asyncio, hashlib
async def worker(i, q):
    h = hashlib.sha256()
    for k in range(120):
        await asyncio.sleep(0.01)
        h.update(f"{i}-{k}".encode())
    await q.put((i, h.hexdigest()))
async def main():
    q = asyncio.Queue()
    await asyncio.gather(*(worker(i, q) for i in range(4)))
    res = sorted([await q.get() for _ in range(4)])
    print(res[0][1][:16], res[-1][1][:16])
asyncio.run(main())
