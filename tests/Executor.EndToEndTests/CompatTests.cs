using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>
/// The clients people already have, unchanged, through the gateway: the Engine's own (a proxy that sends Content-Type
/// twice, POST /execute_pytest) and the native API's JSON form. Its "error" member is proven in process
/// (Executor.ServiceTests' EngineCompatTests).
/// </summary>
[Collection(StackCollection.Name)]
public sealed class EngineCompatTests(StackFixture stack)
{
    [Fact]
    public async Task An_execute_with_content_type_sent_twice_is_read_as_one()
    {
        // As the learning platform's Go gateway sends it: every incoming header re-added, so Content-Type comes twice.
        const string Boundary = "go-proxy-boundary-7d1f";
        var body = $"--{Boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"hello.py\"\r\nContent-Type: text/x-python\r\n\r\n"
            + $"print('hello through the proxy')\n\r\n--{Boundary}--\r\n";
        var uri = stack.Gateway.BaseAddress!;
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port);
        await using var stream = tcp.GetStream();
        var request = $"POST /execute?wait=true HTTP/1.1\r\nHost: {uri.Authority}\r\n"
            + $"Content-Type: multipart/form-data; boundary={Boundary}\r\nContent-Type: multipart/form-data; boundary={Boundary}\r\n"
            + $"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}";
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request));
        var response = await new StreamReader(stream).ReadToEndAsync();

        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.Contains("hello through the proxy", response, StringComparison.Ordinal);
    }

    private static async Task<JsonElement> Problem(HttpResponseMessage response, int status)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static readonly string[] Args = ["a b", "c"];

    [Fact]
    public async Task Execute_takes_json_with_code_or_files_and_refuses_bad_json_with_the_form_s_problems()
    {
        using var code = await stack.Gateway.PostAsJsonAsync("/execute?wait=true",
            new { code = "import sys\nprint(sys.stdin.read().upper(), sys.argv[1:])\n", stdin = "hi", args = Args, timeout_seconds = 5 });
        var result = await code.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.OK, code.StatusCode);
        Assert.Equal("HI ['a b', 'c']\n", result.GetProperty("stdout").GetString());
        Assert.Equal(5, result.GetProperty("limits").GetProperty("timeout_seconds").GetInt32());

        using var files = await stack.Gateway.PostAsJsonAsync("/execute?wait=true", new
        {
            files = new object[]
            {
                new { name = "app/run.py", content = Convert.ToBase64String("from lib import twice\nprint(twice(21))\n"u8.ToArray()), encoding = "base64" },
                new { name = "app/lib.py", content = "def twice(x):\n    return 2 * x\n" },
            },
            entrypoint = "app/run.py",
        });
        Assert.Equal("42\n", (await files.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("stdout").GetString());

        using var nothing = await stack.Gateway.PostAsJsonAsync("/execute", new { stdin = "x" });
        Assert.Equal("No file provided", (await Problem(nothing, 400)).GetProperty("error").GetString());
        using var badLimit = await stack.Gateway.PostAsJsonAsync("/execute", new { code = "print(1)", timeout_seconds = 9999 });
        Assert.Equal("urn:executor:problem:bad-limit", (await Problem(badLimit, 400)).GetProperty("type").GetString());
        using var badName = await stack.Gateway.PostAsJsonAsync("/execute", new { files = new[] { new { name = "../x.py", content = "print(1)" } } });
        Assert.Equal("urn:executor:problem:bad-file-name", (await Problem(badName, 400)).GetProperty("type").GetString());
        using var broken = await stack.Gateway.PostAsync("/execute", new StringContent("{\"code\": ", Encoding.UTF8, "application/json"));
        Assert.Equal("urn:executor:problem:bad-json", (await Problem(broken, 400)).GetProperty("type").GetString());
    }

    private const string Solution = """
        import os

        def greet(name):
            return f"Hello, {name}!"

        def clean():
            os.system("rm -rf build")
        """;

    /// <summary>A lab's tests: they import the student's module and patch os.system so that nothing really runs.</summary>
    private const string LabTests = """
        from unittest import mock
        import solution

        def test_greets():
            assert solution.greet("Ann") == "Hello, Ann!"

        def test_cleans_with_os_system():
            with mock.patch("os.system") as system:
                solution.clean()
            system.assert_called_once_with("rm -rf build")

        def test_greets_informally():
            assert solution.greet("Bob") == "Hi Bob"
        """;

    [Fact]
    public async Task Execute_pytest_grades_code_and_tests_sent_as_the_platform_sends_them()
    {
        using var form = new MultipartFormDataContent { { new StringContent(Solution), "code" } };
        form.Add(new ByteArrayContent(Encoding.UTF8.GetBytes(LabTests)), "tests", "test_lab.py");

        using var response = await stack.Gateway.PostAsync("/execute_pytest", form);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("partial_success", body.GetProperty("status").GetString());
        Assert.Equal(1, body.GetProperty("exit_code").GetInt32());
        var summary = body.GetProperty("summary");
        Assert.Equal((2, 1, 3), (summary.GetProperty("passed").GetInt32(), summary.GetProperty("failed").GetInt32(), summary.GetProperty("total").GetInt32()));
        Assert.True(summary.GetProperty("duration").GetDouble() > 0);
        Assert.Contains("test_greets_informally", body.GetProperty("raw_output").GetString(), StringComparison.Ordinal);
        Assert.Contains("1 failed, 2 passed", body.GetProperty("raw_output").GetString(), StringComparison.Ordinal);
        var session = await stack.Gateway.WaitForResultAsync(body.GetProperty("session_id").GetString()!);
        Assert.Equal("failed", session.GetProperty("status").GetString()); // the session behind it, like any other
    }

    [Fact]
    public async Task Execute_pytest_takes_files_and_answers_200_when_every_test_passes()
    {
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(Encoding.UTF8.GetBytes(Solution)), "files", "solution.py");
        form.Add(new ByteArrayContent(Encoding.UTF8.GetBytes(LabTests.Replace("\"Hi Bob\"", "\"Hello, Bob!\"", StringComparison.Ordinal))), "files", "test_lab.py");
        form.Add(new ByteArrayContent("def test_more():\n    assert 1 + 1 == 2\n"u8.ToArray()), "files", "extra_test.py");

        using var response = await stack.Gateway.PostAsync("/execute_pytest", form);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("success", body.GetProperty("status").GetString());
        Assert.Equal(0, body.GetProperty("exit_code").GetInt32());
        Assert.Equal((4, 0, 4), (body.GetProperty("summary").GetProperty("passed").GetInt32(),
            body.GetProperty("summary").GetProperty("failed").GetInt32(), body.GetProperty("summary").GetProperty("total").GetInt32()));
    }

    [Fact]
    public async Task Execute_pytest_answers_400_with_an_error_for_no_files_no_tests_and_tests_that_do_not_collect()
    {
        using var empty = new MultipartFormDataContent { { new StringContent("1"), "timeout_seconds" } };
        using var noFiles = await stack.Gateway.PostAsync("/execute_pytest", empty);
        Assert.Equal("No files provided", (await Problem(noFiles, 400)).GetProperty("error").GetString());

        using var onlyCode = new MultipartFormDataContent();
        onlyCode.Add(new ByteArrayContent(Encoding.UTF8.GetBytes(Solution)), "files", "solution.py");
        using var noTests = await stack.Gateway.PostAsync("/execute_pytest", onlyCode);
        Assert.Equal("No test files provided", (await Problem(noTests, 400)).GetProperty("error").GetString());

        using var broken = new MultipartFormDataContent();
        broken.Add(new ByteArrayContent("import nonexistent_module\n\ndef test_x():\n    pass\n"u8.ToArray()), "files", "test_broken.py");
        using var collection = await stack.Gateway.PostAsync("/execute_pytest", broken);
        Assert.Equal(HttpStatusCode.BadRequest, collection.StatusCode);
        var body = await collection.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("failure", body.GetProperty("status").GetString());
        Assert.Contains("collection", body.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("nonexistent_module", body.GetProperty("raw_output").GetString(), StringComparison.Ordinal);
    }
}
