/* A tool-calling loop: the model asks for tools, the host runs them and
 * sends the results back, until the model answers in text.
 *
 *   llmorch mock-server --port 8080 &
 *   example_tools                                    (OpenAI wire format)
 *   example_tools http://127.0.0.1:8080 anthropic    (the same loop, Anthropic)
 *   OPENAI_API_KEY=... example_tools https://api.openai.com
 *
 * Arguments: base URL (default http://127.0.0.1:8080) and provider (default
 * openai).  Nothing in the loop depends on the provider. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmorch/llmorch.h>

#define MAX_TURNS 8
#define MAX_MESSAGES 32

/* The host's tools.  A real one would parse `args` (JSON text). */
static const char *run_tool(const char *name, const char *args)
{
    (void)args;
    if (strcmp(name, "get_weather") == 0)
        return "{\"temperature_c\": 21, \"sky\": \"clear\"}";
    return "{\"error\": \"unknown tool\"}";
}

int main(int argc, char **argv)
{
    struct llm_engine_options opts = {0};
    opts.provider = argc > 2 ? argv[2] : "openai";
    opts.base_url = argc > 1 ? argv[1] : "http://127.0.0.1:8080";
    opts.max_attempts = 2;
    struct llm_engine *eng;
    if (llm_engine_new(&opts, &eng) != LLM_OK)
        return 1;

    static const struct llm_tool tools[] = {{
        .name = "get_weather",
        .description = "Current weather in a city",
        .parameters_json = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
                           "\"required\":[\"city\"]}",
    }};
    struct llm_message msgs[MAX_MESSAGES] = {
        {.role = "user", .content = "What is the weather in Paris? Use get_weather."},
    };
    size_t n = 1;
    /* Results stay alive while later requests point at their tool calls. */
    struct llm_result *kept[MAX_TURNS] = {0};
    int status = 1;
    for (int turn = 0; turn < MAX_TURNS; turn++) {
        struct llm_request req = {.model = "gpt-4o-mini", .messages = msgs, .n_messages = n,
                                  .tools = tools, .n_tools = 1};
        struct llm_result *res = kept[turn] = llm_generate(eng, &req);
        if (res == NULL || !res->success) {
            fprintf(stderr, "error: %s\n", res ? res->error.message : "out of memory");
            break;
        }
        if (res->n_tool_calls == 0) { /* the final answer */
            printf("%s\n", res->content);
            status = 0;
            break;
        }
        if (n + 1 + res->n_tool_calls > MAX_MESSAGES)
            break;
        /* The assistant's turn with its calls, then one tool turn each. */
        msgs[n++] = (struct llm_message){.role = "assistant",
                                         .tool_calls = res->tool_calls,
                                         .n_tool_calls = res->n_tool_calls};
        for (size_t i = 0; i < res->n_tool_calls; i++) {
            const struct llm_tool_call *c = &res->tool_calls[i];
            printf("calling %s(%s)\n", c->name, c->arguments);
            msgs[n++] = (struct llm_message){.role = "tool",
                                             .content = run_tool(c->name, c->arguments),
                                             .tool_call_id = c->id,
                                             .name = c->name};
        }
    }
    for (int i = 0; i < MAX_TURNS; i++)
        llm_result_free(kept[i]);
    llm_engine_free(eng);
    return status;
}
