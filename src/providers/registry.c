/* The provider registry: name -> factory.  The engine (and anyone else)
 * makes providers by name here; adding a provider is one row. */
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "llmorch/ext/provider.h"
#include "llmorch/mock.h"

static enum llm_error new_openai(const struct llm_provider_options *http,
                                 const struct llm_mock_options *mock, struct llm_provider **out)
{
    (void)mock;
    return llm_provider_new_openai(http, out);
}

static enum llm_error new_anthropic(const struct llm_provider_options *http,
                                    const struct llm_mock_options *mock,
                                    struct llm_provider **out)
{
    (void)mock;
    return llm_provider_new_anthropic(http, out);
}

/* The HTTP providers whose factory takes only the HTTP options. */
#define HTTP_ONLY(fn, factory)                                                               \
    static enum llm_error fn(const struct llm_provider_options *http,                        \
                             const struct llm_mock_options *mock, struct llm_provider **out) \
    {                                                                                        \
        (void)mock;                                                                          \
        return factory(http, out);                                                           \
    }
HTTP_ONLY(new_gemini, llm_provider_new_gemini)
HTTP_ONLY(new_azure, llm_provider_new_azure)
HTTP_ONLY(new_bedrock, llm_provider_new_bedrock)
HTTP_ONLY(new_ollama, llm_provider_new_ollama)

static enum llm_error new_mock(const struct llm_provider_options *http,
                               const struct llm_mock_options *mock, struct llm_provider **out)
{
    (void)http;
    return llm_provider_new_mock(mock, out);
}

static const struct {
    const char *name;
    enum llm_error (*make)(const struct llm_provider_options *http,
                           const struct llm_mock_options *mock, struct llm_provider **out);
} registry[] = {
    {"openai", new_openai},
    {"anthropic", new_anthropic},
    {"gemini", new_gemini},
    {"azure", new_azure},
    {"bedrock", new_bedrock},
    {"ollama", new_ollama},
    {"mock", new_mock},
};

#define N_PROVIDERS (sizeof(registry) / sizeof(registry[0]))

/* "openai, anthropic or mock" */
static void list_names(char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_PROVIDERS && used < len; i++) {
        const char *sep = i == 0 ? "" : i + 1 == N_PROVIDERS ? " or " : ", ";
        int n = snprintf(buf + used, len - used, "%s%s", sep, registry[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

enum llm_error llm_provider_new_by_name(const char *name, const struct llm_provider_options *http,
                                        const struct llm_mock_options *mock,
                                        struct llm_provider **out, char *errbuf, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!out || !name) {
        llm__set_err(errbuf, errlen, "provider name or out: is NULL");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < N_PROVIDERS; i++) {
        if (strcmp(name, registry[i].name) != 0)
            continue;
        enum llm_error rc = registry[i].make(http, mock, out);
        if (rc != LLM_OK)
            llm__set_err(errbuf, errlen, "could not create provider \"%s\": %s", name,
                         llm_strerror(rc));
        return rc;
    }
    char shown[48], names[160];
    snprintf(shown, sizeof(shown), "%s", name);
    list_names(names, sizeof(names));
    llm__set_err(errbuf, errlen, "unknown provider \"%s\" (expected %s)", shown, names);
    return LLM_ERR_INVALID_ARGUMENT;
}
