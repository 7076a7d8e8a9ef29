/* Shared definitions for every public libllmorch header: export macro,
 * C++ linkage guards. */
#ifndef LLMORCH_COMMON_H
#define LLMORCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(LLM_BUILDING_DLL)
#    define LLM_API __declspec(dllexport)
#  else
#    define LLM_API
#  endif
#elif defined(__GNUC__) || defined(__clang__)
/* The library is built with -fvisibility=hidden; only LLM_API symbols are
 * exported from the shared object. */
#  define LLM_API __attribute__((visibility("default")))
#else
#  define LLM_API
#endif

#ifdef __cplusplus
#  define LLM_BEGIN_DECLS extern "C" {
#  define LLM_END_DECLS }
#else
#  define LLM_BEGIN_DECLS
#  define LLM_END_DECLS
#endif

#endif /* LLMORCH_COMMON_H */
