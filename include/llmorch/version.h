/* libllmorch version information (modelled on curl's curlver.h). */
#ifndef LLMORCH_VERSION_H
#define LLMORCH_VERSION_H

#define LLM_VERSION_MAJOR 0
#define LLM_VERSION_MINOR 2
#define LLM_VERSION_PATCH 0
#define LLM_VERSION_STRING "0.2.0"

/* 0xMMmmpp: compare with `#if LLM_VERSION_NUM >= 0x000100`. */
#define LLM_VERSION_NUM \
    ((LLM_VERSION_MAJOR << 16) | (LLM_VERSION_MINOR << 8) | LLM_VERSION_PATCH)

#endif /* LLMORCH_VERSION_H */
