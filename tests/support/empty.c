/* Keeps llm_test_support non-empty. */
typedef int llm_test_support_empty;
