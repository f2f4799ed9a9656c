// Runs CUDA C kernels on the CPU: each launch is a loop over every block and thread.
// Only what edge/cuda/kernels.cu uses is provided; half_t is a real IEEE half (_Float16),
// so FP16 rounding is emulated too. Built with -mfma -ffp-contract=fast where the CPU has
// FMA (tests/fake_device.py: EMU_FLAGS), so a*b+c fuses as nvcc fuses it; the __f*_rn
// intrinsics round each operation, as on the GPU.
#pragma once
#define EDGE_CPU_EMULATION 1
#include <algorithm>
#include <cmath>
#include <cstring>

struct Dim3 {
    unsigned x = 1, y = 1, z = 1;
};
static Dim3 blockIdx, blockDim, threadIdx;

#define __global__
#define __device__
#define __forceinline__ inline
using std::max;
using std::min;

struct half_t {
    _Float16 v;
};
inline float half_to_float(half_t h) { return (float)h.v; }
inline half_t float_to_half(float f) { return half_t{(_Float16)f}; }
inline int __float2int_rn(float v) { return (int)std::nearbyint(v); }
// volatile: each result is rounded to float and never fused into an FMA
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, sizeof f); return f; }

template <typename F>
void grid2d(int gx, int gy, int bx, int by, F f) {
    blockDim = Dim3{(unsigned)bx, (unsigned)by, 1};
    for (int j = 0; j < gy; ++j)
        for (int i = 0; i < gx; ++i)
            for (int ty = 0; ty < by; ++ty)
                for (int tx = 0; tx < bx; ++tx) {
                    blockIdx = Dim3{(unsigned)i, (unsigned)j, 1};
                    threadIdx = Dim3{(unsigned)tx, (unsigned)ty, 1};
                    f();
                }
}
