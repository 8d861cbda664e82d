// OpenBLAS's CBLAS interface plus its threading and configuration entry points
// (openblas_set_num_threads, openblas_get_config, openblas_get_corename), which
// Debian's cblas.h declares.
#include <cblas.h>
