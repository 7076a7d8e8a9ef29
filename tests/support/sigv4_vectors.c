/* AWS's SigV4 test suite (see sigv4_vectors.h for where the data comes
 * from and its licence). */
#include "sigv4_vectors.h"

const struct sigv4_vector sigv4_vectors[] = {
    {
        .name = "get-vanilla",
        .method = "GET", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    {
        .name = "post-vanilla",
        .method = "POST", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "POST\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    },
    {
        .name = "get-utf8",
        .method = "GET", .path = "/\xe1""\x88""\xb4""", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/%E1%88%B4\n"
        "\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    },
    {
        .name = "get-unreserved",
        .method = "GET", .path = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n"
        "\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    },
    {
        .name = "get-space-unnormalized",
        .method = "GET", .path = "/example space/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/example%20space/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
    },
    {
        .name = "get-vanilla-query-order-key-case",
        .method = "GET", .path = "/", .query = "Param2=value2&Param1=value1",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/\n"
        "Param1=value1&Param2=value2\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    },
    {
        .name = "get-vanilla-query-unreserved",
        .method = "GET", .path = "/", .query = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/\n"
        "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    },
    {
        .name = "get-vanilla-utf8-query",
        .method = "GET", .path = "/", .query = "\xe1""\x88""\xb4""=bar",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/\n"
        "%E1%88%B4=bar\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    },
    {
        .name = "post-vanilla-query",
        .method = "POST", .path = "/", .query = "Param1=value1",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "POST\n"
        "/\n"
        "Param1=value1\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    },
    {
        .name = "get-header-key-duplicate",
        .method = "GET", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
        .n_headers = 4,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "my-header1:value2,value2,value1\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;my-header1;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    },
    {
        .name = "get-header-value-trim",
        .method = "GET", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
        .n_headers = 3,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "my-header1:value1\n"
        "my-header2:\"a b c\"\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;my-header1;my-header2;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    },
    {
        .name = "post-header-key-sort",
        .method = "POST", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1"}},
        .n_headers = 2,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "POST\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "my-header1:value1\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;my-header1;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    },
    {
        .name = "post-header-value-case",
        .method = "POST", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}, {"My-Header1", "VALUE1"}},
        .n_headers = 2,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "POST\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "my-header1:VALUE1\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;my-header1;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
    },
    {
        .name = "post-x-www-form-urlencoded",
        .method = "POST", .path = "/", .query = "",
        .headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Host", "example.amazonaws.com"}, {"Content-Length", "13"}},
        .n_headers = 3,
        .body = "Param1=value1", .sign_body = true,
        .token = NULL,
        .canonical = "POST\n"
        "/\n"
        "\n"
        "content-length:13\n"
        "content-type:application/x-www-form-urlencoded\n"
        "host:example.amazonaws.com\n"
        "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "content-length;content-type;host;x-amz-content-sha256;x-amz-date\n"
        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
        .signature = "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
    },
    {
        .name = "get-vanilla-with-session-token",
        .method = "GET", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
        .canonical = "GET\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "x-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n"
        "\n"
        "host;x-amz-date;x-amz-security-token\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
    },
};

const size_t sigv4_n_vectors = sizeof(sigv4_vectors) / sizeof(sigv4_vectors[0]);
