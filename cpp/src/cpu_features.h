// What the running x86 CPU supports, for the kernels' choice at first use (private header).
#pragma once

#if defined(__x86_64__) || defined(__i386__)
namespace facev3 {

inline bool cpu_has_sse41() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.1");
}

inline bool cpu_has_avx2() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

inline bool cpu_has_avx2_fma() { return cpu_has_avx2() && __builtin_cpu_supports("fma"); }

inline bool cpu_has_avx512f() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

}  // namespace facev3
#endif
