// Configure-time probe (cmake/FedsimDeps.cmake, FEDSIM_HOST_SIMD=auto): exit 0 when the
// machine that builds fedsim has AVX2.
int main() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? 0 : 1;
}
