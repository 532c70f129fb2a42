// kernels.cu - device code for drv_vadd.c, compiled to PTX by run.sh
// (nvcc -ptx) and loaded with cuModuleLoad: the driver-API path (no cudart).
__device__ unsigned counter;

extern "C" __global__ void vadd(const float *a, const float *b, float *c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}

extern "C" __global__ void incr(int *buf, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) buf[i] += 1;
    if (i == 0) atomicAdd(&counter, 1u);
}
