/* Reference CPU kernel for prefix_sum: y[i] = sum_{j<=i} x[j] * [#positives in x[0..j-1] is odd].
 *
 * One pass of 8-lane AVX2 scans; the parity of each lane comes from a 256-entry table
 * indexed by the sign mask. Large inputs are split over two threads in two phases:
 *   1. thread 0 scans [0, a) while thread 1 only summarizes [a, b) (no writes, so cheaper);
 *   2. with both carries known, thread 0 scans [a, b) and thread 1 scans [b, n).
 * Sums are uint32, so overflow wraps like int32 two's complement.
 */
#include <pthread.h>
#include <stdint.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

typedef struct { uint32_t sum; uint32_t odd; } carry_t;            /* state entering a position */
typedef struct { uint32_t odd_sum; uint32_t all_sum; uint32_t odd; } summary_t; /* a block, odd=0 in */

static const int64_t TWO_THREADS_FROM = 1 << 18;   /* below this, thread start-up costs more */
static const int64_t STREAM_FROM = 1 << 20;        /* above this, the output will not stay in cache */

static carry_t scan_scalar(const int32_t *x, int32_t *y, int64_t n, carry_t c) {
    for (int64_t i = 0; i < n; i++) {
        c.sum += (uint32_t)x[i] & (0u - c.odd);
        y[i] = (int32_t)c.sum;
        c.odd ^= (uint32_t)(x[i] > 0);
    }
    return c;
}

static summary_t reduce_scalar(const int32_t *x, int64_t n, summary_t r) {
    for (int64_t i = 0; i < n; i++) {
        r.all_sum += (uint32_t)x[i];
        r.odd_sum += (uint32_t)x[i] & (0u - r.odd);
        r.odd ^= (uint32_t)(x[i] > 0);
    }
    return r;
}

#ifdef __AVX2__
/* lut[m]: lane k is all ones when an odd number of bits of m below bit k are set. */
static __m256i lut[256];

__attribute__((constructor)) static void init_lut(void) {
    for (int m = 0; m < 256; m++) {
        int32_t lanes[8];
        int odd = 0;
        for (int k = 0; k < 8; k++) {
            lanes[k] = odd ? -1 : 0;
            odd ^= (m >> k) & 1;
        }
        lut[m] = _mm256_loadu_si256((const __m256i *)lanes);
    }
}

static carry_t scan(const int32_t *x, int32_t *y, int64_t n, carry_t c) {
    int stream = n >= STREAM_FROM;
    int64_t i = 0;
    if (stream) { /* peel until y is 32-byte aligned, as streaming stores need */
        int64_t head = (int64_t)((32 - ((uintptr_t)y & 31)) & 31) / 4;
        if (((uintptr_t)y & 3) != 0) stream = 0;
        else {
            head = head < n ? head : n;
            c = scan_scalar(x, y, head, c);
            i = head;
        }
    }
    const __m256i zero = _mm256_setzero_si256();
    const __m256i lane3 = _mm256_set1_epi32(3), lane7 = _mm256_set1_epi32(7);
    __m256i sum = _mm256_set1_epi32((int32_t)c.sum);
    uint32_t odd = 0u - c.odd; /* all ones when odd */
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
        int m = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(v, zero)));
        __m256i s = _mm256_and_si256(v, _mm256_xor_si256(lut[m], _mm256_set1_epi32((int32_t)odd)));
        odd ^= 0u - (uint32_t)(__builtin_popcount((unsigned)m) & 1);
        s = _mm256_add_epi32(s, _mm256_slli_si256(s, 4));   /* scan within each 128-bit half */
        s = _mm256_add_epi32(s, _mm256_slli_si256(s, 8));
        s = _mm256_add_epi32(s, _mm256_blend_epi32(zero, _mm256_permutevar8x32_epi32(s, lane3), 0xF0));
        s = _mm256_add_epi32(s, sum);
        if (stream) _mm256_stream_si256((__m256i *)(y + i), s);
        else _mm256_storeu_si256((__m256i *)(y + i), s);
        sum = _mm256_permutevar8x32_epi32(s, lane7);
    }
    if (stream) _mm_sfence();
    c.sum = (uint32_t)_mm256_cvtsi256_si32(sum);
    c.odd = odd & 1u;
    return scan_scalar(x + i, y + i, n - i, c);
}

static summary_t reduce(const int32_t *x, int64_t n) {
    const __m256i zero = _mm256_setzero_si256();
    __m256i odd_sum = zero, all_sum = zero;
    uint32_t odd = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
        int m = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(v, zero)));
        odd_sum = _mm256_add_epi32(odd_sum, _mm256_and_si256(v, _mm256_xor_si256(lut[m], _mm256_set1_epi32((int32_t)odd))));
        all_sum = _mm256_add_epi32(all_sum, v);
        odd ^= 0u - (uint32_t)(__builtin_popcount((unsigned)m) & 1);
    }
    uint32_t o[8], a[8];
    _mm256_storeu_si256((__m256i *)o, odd_sum);
    _mm256_storeu_si256((__m256i *)a, all_sum);
    summary_t r = {0, 0, odd & 1u};
    for (int k = 0; k < 8; k++) { r.odd_sum += o[k]; r.all_sum += a[k]; }
    return reduce_scalar(x + i, n - i, r);
}
#else
static carry_t scan(const int32_t *x, int32_t *y, int64_t n, carry_t c) { return scan_scalar(x, y, n, c); }
static summary_t reduce(const int32_t *x, int64_t n) { summary_t r = {0, 0, 0}; return reduce_scalar(x, n, r); }
#endif

static carry_t after(carry_t c, summary_t s) {
    c.sum += c.odd ? s.all_sum - s.odd_sum : s.odd_sum;
    c.odd ^= s.odd;
    return c;
}

typedef struct { const int32_t *x; int32_t *y; int64_t a, b, n; summary_t summary; carry_t carry; } job_t;

static void *summarize_middle(void *p) { job_t *j = p; j->summary = reduce(j->x + j->a, j->b - j->a); return 0; }
static void *scan_last(void *p) { job_t *j = p; scan(j->x + j->b, j->y + j->b, j->n - j->b, j->carry); return 0; }

void prefix_sum_i32(const int32_t *x, int32_t *y, int64_t n, int threads) {
    const carry_t zero = {0, 0};
    if (threads < 2 || n < TWO_THREADS_FROM) { scan(x, y, n, zero); return; }
    /* Thread 0 scans [0, a) while thread 1 summarizes [a, b); summarizing is about twice as fast. */
    int64_t a = (n * 28 / 100) & ~(int64_t)7;
    int64_t b = (a + (n - a) / 2) & ~(int64_t)7;
    job_t job = {x, y, a, b, n, {0, 0, 0}, {0, 0}};
    pthread_t helper;
    if (pthread_create(&helper, 0, summarize_middle, &job) != 0) { scan(x, y, n, zero); return; }
    carry_t at_a = scan(x, y, a, zero);
    pthread_join(helper, 0);
    job.carry = after(at_a, job.summary);
    if (pthread_create(&helper, 0, scan_last, &job) != 0) {
        scan(x + a, y + a, n - a, at_a);
        return;
    }
    scan(x + a, y + a, b - a, at_a);
    pthread_join(helper, 0);
}
