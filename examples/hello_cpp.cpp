// hello_cpp: the umbrella header compiles as C++17 (-Wall -Wextra -Werror)
// and the API is usable from C++ with RAII wrappers.
#include <llmorch/llmorch.h>

#include <cstdio>
#include <memory>
#include <string>

struct EngineDeleter {
    void operator()(llm_engine *e) const { llm_engine_free(e); }
};
struct ResultDeleter {
    void operator()(llm_result *r) const { llm_result_free(r); }
};

int main()
{
    llm_engine *raw = nullptr;
    llm_engine_options opts{};
    if (llm_engine_new(&opts, &raw) != LLM_OK) {
        std::fprintf(stderr, "hello_cpp: could not create the engine\n");
        return 1;
    }
    std::unique_ptr<llm_engine, EngineDeleter> eng(raw);
    /* Set members by name: the struct grows at its end (ABI rule), so a
     * positional initialiser would miss the new members. */
    llm_message msg{};
    msg.role = "user";
    msg.content = "Hello from C++";
    llm_request req{};
    req.model = "gpt-4o-mini";
    req.messages = &msg;
    req.n_messages = 1;
    std::unique_ptr<llm_result, ResultDeleter> res(llm_generate(eng.get(), &req));
    if (!res || !res->success) {
        std::fprintf(stderr, "hello_cpp: %s\n", res ? llm_strerror(res->error.type) : "no result");
        return 1;
    }
    std::string text(res->content, res->content_len);
    std::printf("%s\n", text.c_str());
    return 0;
}
