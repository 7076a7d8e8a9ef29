/* llmorch-mock-server: see mock_server.h and --help. */
#include "mock_server.h"

int main(int argc, char **argv)
{
    return mocksrv_main(argc, argv);
}
