// edge-seg CUDA kernels: pre-processing, ISB crop gather, mask paste and overlay blend.
//
// Each kernel has a NumPy reference in the package, and the tests compare the two:
//   preprocess_*   <-> edge.preprocess.preprocess
//   crop_gather_*  <-> edge.geometry.masks.gather_crops
//   paste_masks    <-> edge.geometry.masks.paste_masks
//   blend_overlay  <-> edge.runtime.render.blend_reference
// Bilinear sampling everywhere uses half-pixel centres clamped to the edge (PyTorch
// align_corners=False, ONNX half_pixel, TensorRT), as edge.geometry.resample documents.
// Arithmetic is float32; positions are computed as in the reference, so float outputs
// agree to ~1e-5 and integer outputs exactly except where a logit is within rounding of
// the threshold.
//
// The file is plain CUDA C with extern "C" entry points and no #include (so NVRTC and nvcc
// need no header path and pycuda never runs `nvcc --preprocess`). It ships precompiled
// (edge/cuda/prebuilt, rebuilt by tools/build_kernels.sh); tests/test_cuda_kernels.py also
// compiles it as C++ with a small shim that runs every thread of a launch in a loop, so the
// kernels' arithmetic is tested on CPUs.

#ifndef EDGE_CPU_EMULATION
// IEEE half as raw bits, converted with PTX cvt (what cuda_fp16.h does, without the header).
struct half_t {
    unsigned short x;
};
__device__ __forceinline__ float half_to_float(half_t h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h.x));
    return f;
}
__device__ __forceinline__ half_t float_to_half(float f) {
    half_t h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.x) : "f"(f));
    return h;
}
#endif

__device__ __forceinline__ float load_f(const float* p, long i) { return p[i]; }
__device__ __forceinline__ float load_f(const half_t* p, long i) { return half_to_float(p[i]); }
__device__ __forceinline__ void store_f(float* p, long i, float v) { p[i] = v; }
__device__ __forceinline__ void store_f(half_t* p, long i, float v) { p[i] = float_to_half(v); }

// One bilinear tap along an axis: destination centre `pos` in a frame where the source's
// `len` samples span [lo, hi).
struct Tap {
    int i0, i1;
    float f;
};

__device__ __forceinline__ Tap axis_tap(float pos, float lo, float hi, int len) {
    float u = (pos - lo) / (hi - lo) * (float)len - 0.5f;
    u = fminf(fmaxf(u, 0.0f), (float)(len - 1));
    Tap t;
    t.i0 = (int)floorf(u);
    t.i1 = min(t.i0 + 1, len - 1);
    t.f = u - (float)t.i0;
    return t;
}

// ---------------------------------------------------------------------------------------
// Pre-processing: BGR uint8 frame (pitched rows) -> resize -> (x - mean) / std -> planar
// (3, dh, dw) in the model's channel order, straight into the engine's input buffer.
// scale[c] = 1 / std[c], shift[c] = mean[c] / std[c]; src_channel[c] is the BGR channel
// that output channel c reads (2, 1, 0 for RGB models).
template <typename T>
__device__ void preprocess_impl(const unsigned char* src, int sh, int sw, int pitch, T* dst,
                                int dh, int dw, float s0, float s1, float s2, float b0,
                                float b1, float b2, int c0, int c1, int c2) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= dw || y >= dh) return;
    Tap ty = axis_tap((float)y + 0.5f, 0.0f, (float)dh, sh);
    Tap tx = axis_tap((float)x + 0.5f, 0.0f, (float)dw, sw);
    const unsigned char* r0 = src + (long)ty.i0 * pitch;
    const unsigned char* r1 = src + (long)ty.i1 * pitch;
    float scale[3] = {s0, s1, s2};
    float shift[3] = {b0, b1, b2};
    int chan[3] = {c0, c1, c2};
    long plane = (long)dh * dw;
    for (int c = 0; c < 3; ++c) {
        int k = chan[c];
        float top = (float)r0[tx.i0 * 3 + k] * (1.0f - tx.f) + (float)r0[tx.i1 * 3 + k] * tx.f;
        float bot = (float)r1[tx.i0 * 3 + k] * (1.0f - tx.f) + (float)r1[tx.i1 * 3 + k] * tx.f;
        float v = top * (1.0f - ty.f) + bot * ty.f;
        store_f(dst, c * plane + (long)y * dw + x, v * scale[c] - shift[c]);
    }
}

extern "C" __global__ void preprocess_f32(const unsigned char* src, int sh, int sw, int pitch,
                                          float* dst, int dh, int dw, float s0, float s1,
                                          float s2, float b0, float b1, float b2, int c0,
                                          int c1, int c2) {
    preprocess_impl<float>(src, sh, sw, pitch, dst, dh, dw, s0, s1, s2, b0, b1, b2, c0, c1, c2);
}

extern "C" __global__ void preprocess_f16(const unsigned char* src, int sh, int sw, int pitch,
                                          half_t* dst, int dh, int dw, float s0, float s1,
                                          float s2, float b0, float b1, float b2, int c0,
                                          int c1, int c2) {
    preprocess_impl<half_t>(src, sh, sw, pitch, dst, dh, dw, s0, s1, s2, b0, b1, b2, c0, c1,
                            c2);
}

// ---------------------------------------------------------------------------------------
// Crop gather: for all N boxes of one branch in one launch, window (c0, r0, c1, r1) of the
// (C, H, W) feature map -> out (N, C, oh, ow). mode 0 exact copy, 1 bilinear resize,
// 2 bilinear resize to (2 oh, 2 ow) then 2x2 max-pool. One thread per output element.
template <typename T>
__device__ float window_bilinear(const T* chan, int W, int r0, int c0, int wh, int ww, int oy,
                                 int ox, int oh, int ow) {
    Tap ty = axis_tap((float)oy + 0.5f, 0.0f, (float)oh, wh);
    Tap tx = axis_tap((float)ox + 0.5f, 0.0f, (float)ow, ww);
    long a = (long)(r0 + ty.i0) * W + c0;
    long b = (long)(r0 + ty.i1) * W + c0;
    float top = load_f(chan, a + tx.i0) * (1.0f - tx.f) + load_f(chan, a + tx.i1) * tx.f;
    float bot = load_f(chan, b + tx.i0) * (1.0f - tx.f) + load_f(chan, b + tx.i1) * tx.f;
    return top * (1.0f - ty.f) + bot * ty.f;
}

template <typename T>
__device__ void crop_gather_impl(const T* fmap, int C, int H, int W, const int* windows, int N,
                                 T* out, int oh, int ow, int mode) {
    long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    long total = (long)N * C * oh * ow;
    if (idx >= total) return;
    int ox = (int)(idx % ow);
    int oy = (int)((idx / ow) % oh);
    int c = (int)((idx / ((long)ow * oh)) % C);
    int n = (int)(idx / ((long)ow * oh * C));
    int wc0 = windows[4 * n], wr0 = windows[4 * n + 1];
    int wc1 = windows[4 * n + 2], wr1 = windows[4 * n + 3];
    int c0 = min(max(wc0, 0), W - 1), r0 = min(max(wr0, 0), H - 1);
    int c1 = min(max(wc1, c0 + 1), W), r1 = min(max(wr1, r0 + 1), H);
    int wh = r1 - r0, ww = c1 - c0;
    const T* chan = fmap + (long)c * H * W;
    float v;
    if (mode == 0) {
        bool fits = wc0 >= 0 && wr0 >= 0 && wc1 <= W && wr1 <= H && wc1 - wc0 == ow &&
                    wr1 - wr0 == oh;
        v = fits ? load_f(chan, (long)(r0 + oy) * W + c0 + ox) : __int_as_float(0x7fc00000);
    } else if (mode == 1) {
        v = window_bilinear(chan, W, r0, c0, wh, ww, oy, ox, oh, ow);
    } else {
        float m = window_bilinear(chan, W, r0, c0, wh, ww, 2 * oy, 2 * ox, 2 * oh, 2 * ow);
        m = fmaxf(m, window_bilinear(chan, W, r0, c0, wh, ww, 2 * oy, 2 * ox + 1, 2 * oh, 2 * ow));
        m = fmaxf(m, window_bilinear(chan, W, r0, c0, wh, ww, 2 * oy + 1, 2 * ox, 2 * oh, 2 * ow));
        m = fmaxf(m, window_bilinear(chan, W, r0, c0, wh, ww, 2 * oy + 1, 2 * ox + 1, 2 * oh,
                                     2 * ow));
        v = m;
    }
    store_f(out, idx, v);
}

extern "C" __global__ void crop_gather_f32(const float* fmap, int C, int H, int W,
                                           const int* windows, int N, float* out, int oh, int ow,
                                           int mode) {
    crop_gather_impl<float>(fmap, C, H, W, windows, N, out, oh, ow, mode);
}

extern "C" __global__ void crop_gather_f16(const half_t* fmap, int C, int H, int W,
                                           const int* windows, int N, half_t* out, int oh,
                                           int ow, int mode) {
    crop_gather_impl<half_t>(fmap, C, H, W, windows, N, out, oh, ow, mode);
}

// ---------------------------------------------------------------------------------------
// Mask paste: N instance masks, highest score first. Mask i is logits + offsets[i], of
// shape (mh[i], mw[i]), stretched over boxes[i] = (x1, y1, x2, y2) in frame pixels; a
// pixel whose centre lies in the box takes id i + 1 from the first (highest-scoring) mask
// whose bilinear value there exceeds `threshold`; 0 elsewhere. One thread per pixel.
__device__ __forceinline__ int span_lo(float lo) { return max(0, (int)ceilf(lo - 0.5f)); }
__device__ __forceinline__ int span_hi(float hi, int limit) {
    return min(limit, (int)ceilf(hi - 0.5f));
}

extern "C" __global__ void paste_masks(const float* logits, const int* offsets, const int* mh,
                                       const int* mw, const float* boxes, int N, int* id_map,
                                       int H, int W, float threshold) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= W || y >= H) return;
    int id = 0;
    for (int i = 0; i < N; ++i) {
        float bx0 = boxes[4 * i], by0 = boxes[4 * i + 1];
        float bx1 = boxes[4 * i + 2], by1 = boxes[4 * i + 3];
        if (x < span_lo(bx0) || x >= span_hi(bx1, W) || y < span_lo(by0) ||
            y >= span_hi(by1, H))
            continue;
        int h = mh[i], w = mw[i];
        const float* m = logits + offsets[i];
        Tap ty = axis_tap((float)y + 0.5f, by0, by1, h);
        Tap tx = axis_tap((float)x + 0.5f, bx0, bx1, w);
        float top = m[ty.i0 * w + tx.i0] * (1.0f - tx.f) + m[ty.i0 * w + tx.i1] * tx.f;
        float bot = m[ty.i1 * w + tx.i0] * (1.0f - tx.f) + m[ty.i1 * w + tx.i1] * tx.f;
        if (top * (1.0f - ty.f) + bot * ty.f > threshold) {
            id = i + 1;
            break;
        }
    }
    id_map[(long)y * W + x] = id;
}

// ---------------------------------------------------------------------------------------
// Overlay: frame (H, W, 3) uint8 pitched, in place: where id > 0,
// pixel = round((1 - alpha) * pixel + alpha * lut[id]), round half to even as cv2 and NumPy.
// Explicitly rounded multiplies and add: nvcc would fuse them into an FMA (one rounding),
// which differs from NumPy's float32 result by one unit for some alpha.
extern "C" __global__ void blend_overlay(unsigned char* frame, int H, int W, int pitch,
                                         const int* id_map, const unsigned char* lut, int lut_len,
                                         float alpha) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= W || y >= H) return;
    int id = id_map[(long)y * W + x];
    if (id <= 0) return;
    id = id % lut_len;
    unsigned char* px = frame + (long)y * pitch + 3 * x;
    for (int c = 0; c < 3; ++c) {
        float v = __fadd_rn(__fmul_rn(__fsub_rn(1.0f, alpha), (float)px[c]),
                            __fmul_rn(alpha, (float)lut[3 * id + c]));
        px[c] = (unsigned char)min(255, max(0, __float2int_rn(v)));
    }
}
