/* The default token estimator: a table-free imitation of the cl100k_base /
 * o200k_base tokenizers, good enough to charge a TPM gate before the
 * provider reports usage (the gate is corrected afterwards).
 *
 * Both tokenizers first split text with a regular expression (words with
 * one leading space, digit groups of at most three, punctuation runs,
 * whitespace runs), then merge bytes inside each piece by BPE.  The piece
 * count is therefore a good lower bound, and what BPE adds depends mostly on
 * the piece's length and script: common English words are one token up to
 * about eight letters, rare or long ones cost about one more per four
 * letters, case humps (camelCase, base64) split, and non-Latin scripts cost
 * per character.  Costs are kept in hundredths of a token so that fractional
 * per-character prices add up before the final rounding, with integers only
 * so the result is identical on every platform.
 *
 * The constants were fitted by hand on the sample in tests/unit/test_tokens.c
 * (see ext/tokens.h for the measured error), erring high where the two
 * tokenizers disagree: overcharging a gate only delays a request until the
 * correction, undercharging risks a 429. */
#include "llmorch/ext/tokens.h"

#include <stdint.h>
#include <string.h>

/* Prices in hundredths of a token. */
enum {
    COST_PIECE = 100,          /* any piece: a word, a punctuation run, ... */
    WORD_FREE_LETTERS = 7,     /* ASCII letters a word hump gets for COST_PIECE */
    COST_EXTRA_LETTER = 20,    /* each ASCII letter beyond that */
    CAPS_FREE_LETTERS = 3,     /* upper-case run letters in one token */
    COST_EXTRA_CAP = 34,       /* each upper-case letter beyond that */
    COST_LATIN2_LETTER = 40,   /* 2-byte letters of a non-Latin word: Cyrillic, Greek */
    COST_SEMITIC_LETTER = 60,  /* 2-byte letters from U+0580 on: Hebrew, Arabic */
    COST_ACCENT = 100,         /* a 2-byte letter inside a Latin word: "Dónde" */
    COST_WIDE_CHAR = 100,      /* 3-byte characters: CJK, kana, hangul, symbols */
    COST_ASTRAL_CHAR = 250,    /* 4-byte characters: emoji */
    COST_BAD_BYTE = 100,       /* bytes that are not valid UTF-8 */
    DIGITS_PER_TOKEN = 3,      /* \p{N}{1,3} in both tokenizers' split pattern */
    PUNCT_PER_TOKEN = 3,       /* punctuation runs: `":`, `","`, `();` ... */
    SPACES_PER_TOKEN = 64,     /* long whitespace runs */
    DENSE_MIN_LEN = 16,        /* an alphanumeric run at least this long ... */
    DENSE_SEGMENT = 4,         /* ... whose case/digit segments average <= this */
    COST_DENSE_CHAR = 50,      /* is priced per character (base64, keys) */
};

static bool is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_lower(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Length of the UTF-8 sequence at s[0..n), or 0 if it is not valid
 * (overlong forms and surrogates are not worth rejecting here: they only
 * change the price). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
               : s[0] >= 0xE0                 ? 3
               : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
                                              : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    return len;
}

/* A 2-byte character that is a letter (Latin-1 letters, Latin Extended,
 * IPA, Greek, Cyrillic, Armenian, Hebrew, Arabic ...), as opposed to the
 * Latin-1 symbols (U+0080..U+00BF, ×, ÷). */
static bool is_letter2(const unsigned char *s)
{
    unsigned cp = ((unsigned)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    return cp >= 0xC0 && cp != 0xD7 && cp != 0xF7;
}

/* Whether s[0..n) starts with a letter (ASCII or 2-byte). */
static bool starts_word(const unsigned char *s, size_t n)
{
    return is_upper(s[0]) || is_lower(s[0]) ||
           (s[0] >= 0x80 && utf8_len(s, n) == 2 && is_letter2(s));
}

/* Price of the word starting at s[0] (a letter), advancing *i past it.  A
 * word is a run of ASCII and 2-byte letters; it is priced hump by hump,
 * a new hump starting where a lower-case letter is followed by an upper-case
 * one ("fetch|Json", "Abort|Controller"). */
static int64_t price_word(const unsigned char *s, size_t n, size_t *i)
{
    int64_t cost = 0;
    size_t p = *i;
    while (p < n) {
        /* One hump: [A-Z]*[a-z]* with 2-byte letters anywhere in it. */
        int64_t caps = 0, lower = 0, wide = 0, semitic = 0;
        bool seen_lower = false;
        while (p < n) {
            unsigned char c = s[p];
            if (is_upper(c) && !seen_lower) {
                caps++;
                p++;
            } else if (is_lower(c)) {
                seen_lower = true;
                lower++;
                p++;
            } else if (c >= 0x80 && utf8_len(s + p, n - p) == 2 && is_letter2(s + p)) {
                wide++;
                semitic += c >= 0xD6; /* lead bytes from U+0580 on */
                p += 2;
            } else {
                break;
            }
        }
        if (caps + lower + wide == 0)
            break;
        int64_t hump = COST_PIECE;
        int64_t ascii = caps + lower;
        if (ascii > WORD_FREE_LETTERS)
            hump += (ascii - WORD_FREE_LETTERS) * COST_EXTRA_LETTER;
        /* A capital run longer than a word's initial ("JSON", "AAAAEAAAABC")
         * is split like an acronym. */
        if (caps > CAPS_FREE_LETTERS)
            hump += (caps - CAPS_FREE_LETTERS) * COST_EXTRA_CAP;
        if (wide > 0) {
            int64_t w = (wide - semitic) * COST_LATIN2_LETTER + semitic * COST_SEMITIC_LETTER;
            /* A non-Latin word is priced per letter; an accented letter in a
             * Latin word usually breaks the word's BPE merges around it. */
            hump = ascii == 0 ? (w > COST_PIECE ? w : COST_PIECE) : hump + wide * COST_ACCENT;
        }
        cost += hump;
    }
    *i = p;
    return cost;
}

/* Random-looking identifiers (base64, API keys, hashes in mixed case)
 * defeat BPE: about two characters per token, far more than their humps and
 * digit groups suggest.  For the ASCII alphanumeric run at s[0..n) that is
 * long and switches between upper case, lower case and digits at least
 * every DENSE_SEGMENT characters on average, return its length (*dense is
 * set); otherwise return its length with *dense false. */
static size_t alnum_run(const unsigned char *s, size_t n, bool *dense)
{
    size_t len = 0, switches = 0;
    int prev = -1;
    while (len < n) {
        int cls = is_upper(s[len]) ? 0 : is_lower(s[len]) ? 1 : is_digit(s[len]) ? 2 : -1;
        if (cls < 0)
            break;
        if (prev >= 0 && cls != prev)
            switches++;
        prev = cls;
        len++;
    }
    *dense = len >= DENSE_MIN_LEN && (switches + 1) * DENSE_SEGMENT >= len;
    return len;
}

int64_t llm_estimate_text_tokens(const char *text, size_t len)
{
    if (text == NULL || len == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)text;
    int64_t cost = 0;
    size_t i = 0;
    /* End of the last alphanumeric run examined by alnum_run(): each run is
     * examined once, from its start, so the whole scan stays linear. */
    size_t examined = 0;
    bool after_punct = false;
    while (i < len) {
        unsigned char c = s[i];
        bool punct = false;
        bool dense = false;
        size_t run = 0;
        if (i >= examined && (is_upper(c) || is_lower(c) || is_digit(c))) {
            run = alnum_run(s + i, len - i, &dense);
            examined = i + run;
        }
        if (dense) {
            /* Priced as a whole, unless its pieces cost more. */
            int64_t flat = (int64_t)run * COST_DENSE_CHAR;
            int64_t pieces = 0;
            size_t end = i + run;
            while (i < end) {
                size_t k = i;
                if (is_digit(s[i])) {
                    while (k < end && is_digit(s[k]))
                        k++;
                    pieces += (int64_t)((k - i + DIGITS_PER_TOKEN - 1) / DIGITS_PER_TOKEN) *
                              COST_PIECE;
                    i = k;
                } else {
                    pieces += price_word(s, end, &i);
                }
            }
            cost += flat > pieces ? flat : pieces;
        } else if (is_space(c)) {
            /* "\s*[\r\n]+" is one piece; of the blanks after the last
             * newline (or of a run without one), the last joins a following
             * word or punctuation (" foo") and the others form one piece
             * ("\n", "   ", " foo").  Before a digit or at the end, the
             * blanks stand alone. */
            size_t start = i, tail = 0;
            bool newline = false, newline_after_blank = false;
            while (i < len && is_space(s[i])) {
                if (s[i] == '\n' || s[i] == '\r') {
                    newline_after_blank |= tail > 0;
                    newline = true;
                    tail = 0;
                } else {
                    tail++;
                }
                i++;
            }
            bool joins_next = i < len && !is_digit(s[i]);
            /* Newlines right after punctuation belong to it (";\n"). */
            if (newline && (!after_punct || s[start] == ' ' || s[start] == '\t' ||
                            newline_after_blank))
                cost += COST_PIECE;
            if (tail > (joins_next ? 1u : 0u))
                cost += COST_PIECE;
            cost += (int64_t)((i - start) / SPACES_PER_TOKEN) * COST_PIECE;
        } else if (is_upper(c) || is_lower(c)) {
            cost += price_word(s, len, &i);
        } else if (is_digit(c)) {
            size_t start = i;
            while (i < len && is_digit(s[i]))
                i++;
            cost += (int64_t)((i - start + DIGITS_PER_TOKEN - 1) / DIGITS_PER_TOKEN) * COST_PIECE;
        } else if (c < 0x80) {
            size_t start = i;
            while (i < len && s[i] < 0x80 && !is_space(s[i]) && !is_upper(s[i]) &&
                   !is_lower(s[i]) && !is_digit(s[i]))
                i++;
            /* A lone punctuation mark before a word is part of the word's
             * piece (".customer", "_id", "(seq", "'t"), unless a space
             * precedes it: " ?[^\s\p{L}\p{N}]+" claims the space first. */
            bool joins_word = i - start == 1 && i < len && starts_word(s + i, len - i) &&
                              (start == 0 || s[start - 1] != ' ');
            if (!joins_word)
                cost += (int64_t)((i - start + PUNCT_PER_TOKEN - 1) / PUNCT_PER_TOKEN) *
                        COST_PIECE;
            punct = true;
        } else {
            size_t n = utf8_len(s + i, len - i);
            if (n == 2 && is_letter2(s + i)) {
                cost += price_word(s, len, &i);
            } else if (n == 0) {
                cost += COST_BAD_BYTE;
                i++;
            } else {
                cost += n == 4 ? COST_ASTRAL_CHAR : n == 3 ? COST_WIDE_CHAR : COST_PIECE;
                i += n;
            }
        }
        after_punct = punct;
    }
    /* Round up: the sum of at most SIZE_MAX pieces of a few hundred each
     * cannot overflow int64 for any text that fits in memory. */
    return (cost + 99) / 100;
}

/* Saturating addition of non-negative counts. */
static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t text_tokens(const char *s)
{
    return s == NULL ? 0 : llm_estimate_text_tokens(s, strlen(s));
}

/* Chat framing as OpenAI's cookbook counts it (num_tokens_from_messages):
 * 3 tokens of framing per message plus 1 for the role, and 3 to prime the
 * reply. */
enum { TOKENS_PER_MESSAGE = 4, TOKENS_REPLY_PRIMING = 3 };

/* OpenAI bills an image by tiles: 85 tokens at low detail, up to about
 * 765 for a typical picture at high (the default); the estimate takes the
 * high figure so that the TPM gate errs on the safe side. */
enum { TOKENS_PER_IMAGE_LOW = 85, TOKENS_PER_IMAGE = 765 };

static int64_t message_tokens(const struct llm_message *m)
{
    int64_t n = text_tokens(m->content);
    if (m->parts != NULL) {
        for (size_t i = 0; i < m->n_parts; i++) {
            const struct llm_content_part *pt = &m->parts[i];
            if (pt->type == LLM_PART_TEXT)
                n = add_sat(n, text_tokens(pt->text));
            else
                n = add_sat(n, pt->detail != NULL && strcmp(pt->detail, "low") == 0
                                   ? TOKENS_PER_IMAGE_LOW
                                   : TOKENS_PER_IMAGE);
        }
    }
    if (m->tool_calls != NULL) {
        for (size_t i = 0; i < m->n_tool_calls; i++) {
            n = add_sat(n, text_tokens(m->tool_calls[i].name));
            n = add_sat(n, text_tokens(m->tool_calls[i].arguments));
        }
    }
    return n;
}

int64_t llm_estimate_tokens_default(const struct llm_request *req)
{
    if (req == NULL)
        return 0;
    int64_t total = TOKENS_REPLY_PRIMING;
    if (req->system != NULL)
        total = add_sat(total, add_sat(TOKENS_PER_MESSAGE, text_tokens(req->system)));
    if (req->messages != NULL) {
        for (size_t k = 0; k < req->n_messages; k++)
            total = add_sat(total, add_sat(TOKENS_PER_MESSAGE, message_tokens(&req->messages[k])));
    }
    if (req->tools != NULL) {
        for (size_t k = 0; k < req->n_tools; k++) {
            const struct llm_tool *t = &req->tools[k];
            total = add_sat(total, add_sat(TOKENS_PER_MESSAGE, text_tokens(t->name)));
            total = add_sat(total, text_tokens(t->description));
            total = add_sat(total, text_tokens(t->parameters_json));
        }
    }
    total = add_sat(total, text_tokens(req->response_format.schema_json));
    if (req->max_completion_tokens > 0)
        total = add_sat(total, req->max_completion_tokens);
    if (req->max_tokens > 0)
        total = add_sat(total, req->max_tokens);
    return total;
}

int64_t llm_token_estimate_default_fn(void *user, const struct llm_request *req)
{
    (void)user;
    return llm_estimate_tokens_default(req);
}
