// Downstream check (C++17): the C API used from C++ with RAII owners.
#include <cstdio>
#include <memory>
#include <string>

#include <llmorch/llmorch.h>

namespace {
struct engine_deleter {
    void operator()(llm_engine *e) const { llm_engine_free(e); }
};
struct result_deleter {
    void operator()(llm_result *r) const { llm_result_free(r); }
};
struct json_deleter {
    void operator()(char *s) const { llm_free(s); }
};
}  // namespace

int main()
{
    llm_engine_options opts{};  // zero means default: the mock provider
    llm_engine *raw = nullptr;
    if (llm_engine_new(&opts, &raw) != LLM_OK) {
        std::fprintf(stderr, "hello_cxx: cannot start the engine\n");
        return 1;
    }
    std::unique_ptr<llm_engine, engine_deleter> eng(raw);

    const std::string prompt = "hello from C++";
    llm_message msg{};
    msg.role = "user";
    msg.content = prompt.c_str();
    llm_request req{};
    req.model = "gpt-4o-mini";
    req.messages = &msg;
    req.n_messages = 1;
    std::unique_ptr<llm_result, result_deleter> res(llm_generate(eng.get(), &req));
    if (!res || !res->success) {
        std::fprintf(stderr, "hello_cxx: %s\n",
                     res ? llm_error_name(res->error.type) : "out of memory");
        return 1;
    }
    std::unique_ptr<char, json_deleter> json(llm_result_to_json(res.get()));
    std::string reply(res->content, res->content_len);
    std::printf("llmorch %s (C++): %s [trace %s, %zu bytes of JSON]\n", LLM_VERSION_STRING,
                reply.c_str(), res->trace_id, json ? std::string(json.get()).size() : 0);
    return reply.find(prompt) != std::string::npos ? 0 : 1;
}
