// Compiled as C++17 with -Wall -Wextra -Werror -pedantic: the public headers
// must be valid C++ and link with C linkage.
#include <llmorch/llmorch.h>

#include <cstdio>
#include <cstring>

static_assert(LLM_VERSION_NUM >= 0x000100, "version macro");

int main()
{
    if (std::strcmp(llm_strerror(LLM_ERR_RATE_LIMITED), llm_strerror(LLM_OK)) == 0)
        return 1;
    llm_result_free(nullptr);
    llm_engine_free(nullptr);
    std::printf("ok\n");
    return 0;
}
