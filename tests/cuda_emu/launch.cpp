// CPU launchers for the kernels of edge/cuda/kernels.cu (see shim.h). Grid and block
// sizes come from edge.cuda.kernels' own launch-configuration helpers, so those are
// tested too.
#include "shim.h"
#include "edge/cuda/kernels.cu"

extern "C" {
void emu_preprocess(int half, const unsigned char* src, int sh, int sw, int pitch, void* dst,
                    int dh, int dw, const float* scale, const float* shift, const int* chan,
                    int gx, int gy, int bx, int by) {
    grid2d(gx, gy, bx, by, [&] {
        if (half)
            preprocess_f16(src, sh, sw, pitch, (half_t*)dst, dh, dw, scale[0], scale[1],
                           scale[2], shift[0], shift[1], shift[2], chan[0], chan[1], chan[2]);
        else
            preprocess_f32(src, sh, sw, pitch, (float*)dst, dh, dw, scale[0], scale[1],
                           scale[2], shift[0], shift[1], shift[2], chan[0], chan[1], chan[2]);
    });
}

void emu_crop_gather(int half, const void* fmap, int C, int H, int W, const int* windows, int N,
                     void* out, int oh, int ow, int mode, int grid, int block) {
    grid2d(grid, 1, block, 1, [&] {
        if (half)
            crop_gather_f16((const half_t*)fmap, C, H, W, windows, N, (half_t*)out, oh, ow, mode);
        else
            crop_gather_f32((const float*)fmap, C, H, W, windows, N, (float*)out, oh, ow, mode);
    });
}

void emu_paste_masks(const float* logits, const int* offsets, const int* mh, const int* mw,
                     const float* boxes, int N, int* id_map, int H, int W, float threshold,
                     int gx, int gy, int bx, int by) {
    grid2d(gx, gy, bx, by,
           [&] { paste_masks(logits, offsets, mh, mw, boxes, N, id_map, H, W, threshold); });
}

void emu_blend_overlay(unsigned char* frame, int H, int W, int pitch, const int* id_map,
                       const unsigned char* lut, int lut_len, float alpha, int gx, int gy, int bx,
                       int by) {
    grid2d(gx, gy, bx, by,
           [&] { blend_overlay(frame, H, W, pitch, id_map, lut, lut_len, alpha); });
}
}

// Launchers with each kernel's own signature after the launch geometry, so a fake
// pycuda Function can forward a real launch (tests/fake_device.py) to the CPU.
#define EMU_LAUNCH(NAME, PARAMS, ARGS)                                              \
    extern "C" void emu_launch_##NAME(int gx, int gy, int bx, int by, PARAMS) {      \
        grid2d(gx, gy, bx, by, [&] { NAME ARGS; });                                \
    }
#define P(...) __VA_ARGS__

EMU_LAUNCH(preprocess_f32,
           P(const unsigned char* src, int sh, int sw, int pitch, float* dst, int dh, int dw,
             float s0, float s1, float s2, float b0, float b1, float b2, int c0, int c1, int c2),
           (src, sh, sw, pitch, dst, dh, dw, s0, s1, s2, b0, b1, b2, c0, c1, c2))
EMU_LAUNCH(preprocess_f16,
           P(const unsigned char* src, int sh, int sw, int pitch, half_t* dst, int dh, int dw,
             float s0, float s1, float s2, float b0, float b1, float b2, int c0, int c1, int c2),
           (src, sh, sw, pitch, dst, dh, dw, s0, s1, s2, b0, b1, b2, c0, c1, c2))
EMU_LAUNCH(crop_gather_f32,
           P(const float* fmap, int C, int H, int W, const int* windows, int N, float* out, int oh,
             int ow, int mode),
           (fmap, C, H, W, windows, N, out, oh, ow, mode))
EMU_LAUNCH(crop_gather_f16,
           P(const half_t* fmap, int C, int H, int W, const int* windows, int N, half_t* out,
             int oh, int ow, int mode),
           (fmap, C, H, W, windows, N, out, oh, ow, mode))
EMU_LAUNCH(paste_masks,
           P(const float* logits, const int* offsets, const int* mh, const int* mw,
             const float* boxes, int N, int* id_map, int H, int W, float threshold),
           (logits, offsets, mh, mw, boxes, N, id_map, H, W, threshold))
EMU_LAUNCH(blend_overlay,
           P(unsigned char* frame, int H, int W, int pitch, const int* id_map,
             const unsigned char* lut, int lut_len, float alpha),
           (frame, H, W, pitch, id_map, lut, lut_len, alpha))
