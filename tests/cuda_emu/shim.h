// Runs CUDA C kernels on the CPU: each launch is a loop over every block and thread.
// Only what edge/cuda/kernels.cu uses is provided; __half is a real IEEE half (_Float16),
// so FP16 rounding is emulated too.
#pragma once
#define EDGE_CPU_EMULATION 1
#include <algorithm>
#include <cmath>

struct Dim3 {
    unsigned x = 1, y = 1, z = 1;
};
static Dim3 blockIdx, blockDim, threadIdx;

#define __global__
#define __device__
#define __forceinline__ inline
using std::max;
using std::min;

struct __half {
    _Float16 v;
};
inline float __half2float(__half h) { return (float)h.v; }
inline __half __float2half(float f) { return __half{(_Float16)f}; }
inline int __float2int_rn(float v) { return (int)std::nearbyint(v); }

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
