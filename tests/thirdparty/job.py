import hashlib, json, random, time
random.seed(42)
d = {}
h = hashlib.sha256()
for step in range(300):
    for i in range(3000):
        k = random.randint(0, 50000)
        d[k] = d.get(k, 0) + i * step
    h.update(json.dumps(sorted(d.items())[:50]).encode())
    time.sleep(0.005)
print(len(d), h.hexdigest())
