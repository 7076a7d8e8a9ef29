/* llmorch: the command-line face of libllmorch.  Dispatches subcommands. */
#include "cli.h"

#include <string.h>

#include "mock_server.h"

static const char main_usage[] =
    "Usage: llmorch COMMAND [options]\n"
    "       llmorch --help | --version\n"
    "\n"
    "Call LLM providers inside their rate limits, with retries, and see exactly\n"
    "what happened, when, and what it cost.\n"
    "\n"
    "Commands:\n"
    "  generate [options] PROMPT    one request; prints the reply\n"
    "  batch -i IN -o OUT [options] a JSONL file of requests (OpenAI Batch API\n"
    "                               format), resumable, with progress and a\n"
    "                               summary\n"
    "  mock-server [flags]          the fault-injecting mock OpenAI/Anthropic\n"
    "                               HTTP server, on 127.0.0.1\n"
    "\n"
    "Run 'llmorch COMMAND --help' for the options of each command.\n"
    "\n"
    "Provider: with no --provider, llmorch uses openai when OPENAI_API_KEY is set,\n"
    "anthropic when only ANTHROPIC_API_KEY is set, and otherwise the in-process\n"
    "mock provider (no network, no key), saying so on stderr.  API keys are read\n"
    "from the environment only and never printed.\n"
    "\n"
    "Examples:\n"
    "  llmorch generate \"Say hello\"\n"
    "  llmorch generate --stream --provider openai -m gpt-4o-mini \"Tell a joke\"\n"
    "  llmorch generate --base-url http://127.0.0.1:8080 --stream \"Hi\"\n"
    "  llmorch batch -i examples/requests.jsonl -o out.jsonl --rpm 500\n"
    "  llmorch mock-server --port 8080 --rpm 600 --fail-rate 0.1\n"
    "\n"
    "Exit status: 0 success; 1 failure (the request failed, or a runtime\n"
    "error); 2 bad command line; batch: 3 finished with failed or invalid\n"
    "lines, 130/143 interrupted by SIGINT/SIGTERM.\n";

static int mock_server_main(int argc, char **argv)
{
    char name[] = "llmorch mock-server";
    argv[0] = name;
    return mocksrv_main(argc, argv);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(NULL, "missing COMMAND (generate, batch or mock-server)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(main_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
        printf("llmorch %s\n", LLM_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    /* Each subcommand parses argv[1..]: its own name is its argv[0]. */
    if (strcmp(cmd, "generate") == 0)
        return cli_generate_main(argc - 1, argv + 1);
    if (strcmp(cmd, "batch") == 0)
        return cli_batch_main(argc - 1, argv + 1);
    if (strcmp(cmd, "mock-server") == 0)
        return mock_server_main(argc - 1, argv + 1);
    if (cmd[0] == '-')
        return cli_usage_error(NULL, "unknown option '%s'", cmd);
    return cli_usage_error(NULL, "unknown command '%s' (expected generate, batch or mock-server)",
                           cmd);
}
