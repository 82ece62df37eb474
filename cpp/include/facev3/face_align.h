/* face_align: 5-point similarity alignment of faces to the ArcFace 112x112 template.
 *
 * Plain C ABI (a static library linked into facev3._native), thread-safe. Every function
 * returns an align_status (0 = ALIGN_OK); outputs are written only on success.
 *
 * estimate   Umeyama least-squares similarity (rotation, uniform scale, translation, no
 *            reflection) mapping src points onto dst points. In 2-D it has a closed form: with
 *            P, Q the centred src and dst points, a = sum(P.Q) / sum|P|^2,
 *            b = sum(P x Q) / sum|P|^2, and M = [[a, -b, tx], [b, a, ty]] where
 *            t = mean(dst) - [[a, -b], [b, a]] mean(src). Computed in double.
 * warp       For each output pixel (x, y) (pixel centres at integers, as in OpenCV) the source
 *            point is M^-1 (x, y). It is evaluated in 48.16 fixed point, rounded to 1/128 pixel,
 *            and sampled bilinearly with 14-bit integer weights; taps outside the image read 0
 *            (constant border). This matches cv2.warpAffine(INTER_LINEAR, BORDER_CONSTANT 0) to
 *            well under one grey level (OpenCV rounds to 1/32 pixel).
 * layout     image: height x width x 3 uint8, row stride in bytes (>= 3 * width), so a crop of a
 *            larger image needs no copy. out: n_faces x 112 x 112 x 3 uint8, contiguous.
 *            swap_rb != 0 writes channels in reverse order (BGR in, RGB out).
 */
#ifndef FACEV3_FACE_ALIGN_H
#define FACEV3_FACE_ALIGN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ALIGN_OUTPUT_SIZE 112
#define ALIGN_N_LANDMARKS 5

typedef enum align_status {
    ALIGN_OK = 0,
    ALIGN_ERR_NULL_POINTER = 1,
    ALIGN_ERR_EMPTY = 2,       /* image of height or width 0, or fewer than 2 points */
    ALIGN_ERR_BAD_STRIDE = 3,  /* row stride < 3 * width */
    ALIGN_ERR_NON_FINITE = 4,  /* NaN or inf in the points */
    ALIGN_ERR_DEGENERATE = 5,  /* points coincide, or the transform is not invertible */
    ALIGN_ERR_OUT_OF_MEMORY = 6,
    ALIGN_ERR_INTERNAL = 7
} align_status;

const char *align_status_message(int status);

/* The ArcFace template: 5 (x, y) points in a 112 x 112 crop, in detector landmark order
 * (image-left eye, image-right eye, nose tip, image-left and image-right mouth corners). */
const float *align_arcface_template(void);

/* src_xy, dst_xy: n_points x 2. out_matrix: 2 x 3 row-major, mapping src to dst. */
int align_estimate_similarity(const float *src_xy, const float *dst_xy, size_t n_points,
                              float *out_matrix);

/* Aligns n_faces faces given by their 5 landmarks (n_faces x 5 x 2, image pixels) to the
 * ArcFace template. n_faces == 0 is valid and writes nothing. */
int align_warp_faces(const uint8_t *image, size_t height, size_t width, size_t row_stride,
                     const float *landmarks, size_t n_faces, int swap_rb, uint8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* FACEV3_FACE_ALIGN_H */
