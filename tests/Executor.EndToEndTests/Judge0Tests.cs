using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>Judge0 CE 1.13's API through the gateway, with the requests and answers of Judge0's own documentation.</summary>
[Collection(StackCollection.Name)]
public sealed class Judge0Tests(StackFixture stack)
{
    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static string Unb64(JsonElement value) => Encoding.UTF8.GetString(Convert.FromBase64String(value.GetString()!));

    private async Task<JsonElement> SubmitAndWaitAsync(object submission, string query = "base64_encoded=false&wait=true")
    {
        using var response = await stack.Gateway.PostAsJsonAsync($"/submissions?{query}", submission);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static int Status(JsonElement submission) => submission.GetProperty("status").GetProperty("id").GetInt32();

    [Fact]
    public async Task The_documented_example_is_accepted_then_read_back_by_token()
    {
        // Judge0's documented example: stdin "Judge0", expected "hello, Judge0".
        var waited = await SubmitAndWaitAsync(new { source_code = "print(f'hello, {input()}')", language_id = 71, stdin = "Judge0", expected_output = "hello, Judge0" });

        Assert.Equal(3, Status(waited));
        Assert.Equal("Accepted", waited.GetProperty("status").GetProperty("description").GetString());
        Assert.Equal("hello, Judge0\n", waited.GetProperty("stdout").GetString());
        Assert.Matches(@"^\d+\.\d{3}$", waited.GetProperty("time").GetString());
        Assert.True(waited.GetProperty("memory").GetInt64() > 0); // KB
        Assert.Equal(JsonValueKind.Null, waited.GetProperty("compile_output").ValueKind);

        var token = waited.GetProperty("token").GetString()!;
        var read = await stack.Gateway.GetFromJsonAsync<JsonElement>($"/submissions/{token}?base64_encoded=true&fields=stdout,status_id,language_id,source_code,exit_code,wall_time");
        Assert.Equal("hello, Judge0\n", Unb64(read.GetProperty("stdout")));
        Assert.Equal("print(f'hello, {input()}')", Unb64(read.GetProperty("source_code")));
        Assert.Equal((3, 71, 0), (read.GetProperty("status_id").GetInt32(), read.GetProperty("language_id").GetInt32(), read.GetProperty("exit_code").GetInt32()));
        Assert.False(read.TryGetProperty("stderr", out _)); // only the fields asked for
    }

    [Fact]
    public async Task Base64_both_ways_and_the_verdicts_judge0_gives()
    {
        var wrong = await SubmitAndWaitAsync(new { source_code = B64("print(int(input()) * 2)"), language_id = 92, stdin = B64("21"), expected_output = B64("43") },
            "base64_encoded=true&wait=true");
        Assert.Equal(4, Status(wrong)); // Wrong Answer
        Assert.Equal("42\n", Unb64(wrong.GetProperty("stdout")));

        var nzec = await SubmitAndWaitAsync(new { source_code = "import sys\nprint('bad', file=sys.stderr)\nsys.exit(2)", language_id = 71 });
        Assert.Equal(11, Status(nzec)); // Runtime Error (NZEC)
        Assert.Equal("bad\n", nzec.GetProperty("stderr").GetString());

        var segv = await SubmitAndWaitAsync(new { source_code = "import ctypes\nctypes.string_at(0)", language_id = 71 });
        Assert.Equal(7, Status(segv)); // Runtime Error (SIGSEGV)

        var slow = await SubmitAndWaitAsync(new { source_code = "while True:\n    pass", language_id = 71, wall_time_limit = 1 });
        Assert.Equal(5, Status(slow)); // Time Limit Exceeded

        var data = await SubmitAndWaitAsync(new { source_code = "import numpy\nprint(numpy.arange(4).sum())", language_id = 1001 });
        Assert.Equal((3, "6\n"), (Status(data), data.GetProperty("stdout").GetString()));
    }

    [Fact]
    public async Task A_batch_is_created_and_read_back_in_order()
    {
        using var created = await stack.Gateway.PostAsJsonAsync("/submissions/batch?base64_encoded=false", new
        {
            submissions = new object[]
            {
                new { source_code = "print('one')", language_id = 71 },
                new { source_code = "print('two')", language_id = 71 },
                new { source_code = "print('bad language')", language_id = 4 },
            },
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var answers = (await created.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().ToList();
        Assert.Equal(3, answers.Count);
        Assert.Contains("doesn't exist", answers[2].GetProperty("language_id")[0].GetString(), StringComparison.Ordinal);
        var tokens = string.Join(',', answers.Take(2).Select(a => a.GetProperty("token").GetString()));

        JsonElement[] submissions = [];
        await ExecutorApi.WaitUntilAsync(async () =>
        {
            var batch = await stack.Gateway.GetFromJsonAsync<JsonElement>($"/submissions/batch?tokens={tokens}&base64_encoded=false&fields=stdout,status");
            submissions = [.. batch.GetProperty("submissions").EnumerateArray()];
            return submissions.All(s => Status(s) > 2);
        }, "both submissions of the batch ended");
        Assert.Equal(["one\n", "two\n"], submissions.Select(s => s.GetProperty("stdout").GetString()));
    }

    [Fact]
    public async Task Languages_statuses_about_and_errors_have_judge0_s_shapes()
    {
        var languages = await stack.Gateway.GetFromJsonAsync<JsonElement>("/languages");
        Assert.Contains(71, languages.EnumerateArray().Select(l => l.GetProperty("id").GetInt32()));
        Assert.Contains(92, languages.EnumerateArray().Select(l => l.GetProperty("id").GetInt32()));
        Assert.StartsWith("Python", (await stack.Gateway.GetFromJsonAsync<JsonElement>("/languages/71")).GetProperty("name").GetString());
        var statuses = await stack.Gateway.GetFromJsonAsync<JsonElement>("/statuses");
        Assert.Equal(Enumerable.Range(1, 14), statuses.EnumerateArray().Select(s => s.GetProperty("id").GetInt32()));
        Assert.True((await stack.Gateway.GetFromJsonAsync<JsonElement>("/about")).TryGetProperty("version", out _));
        Assert.True((await stack.Gateway.GetFromJsonAsync<JsonElement>("/config_info")).GetProperty("enable_wait_result").GetBoolean());

        using var missing = await stack.Gateway.PostAsJsonAsync("/submissions", new { language_id = 71 });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, missing.StatusCode);
        Assert.Equal("can't be blank", (await missing.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("source_code")[0].GetString());
        using var tooLong = await stack.Gateway.PostAsJsonAsync("/submissions", new { source_code = "print(1)", language_id = 71, cpu_time_limit = 100 });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, tooLong.StatusCode);
        Assert.True((await tooLong.Content.ReadFromJsonAsync<JsonElement>()).TryGetProperty("cpu_time_limit", out _));
        using var badBase64 = await stack.Gateway.PostAsJsonAsync("/submissions?base64_encoded=true", new { source_code = "not base64!", language_id = 71 });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, badBase64.StatusCode);
        using var unknown = await stack.Gateway.GetAsync("/submissions/0123456789abcdef0123456789abcdef");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    private static string Zip(params (string Name, string Content)[] files) => Convert.ToBase64String(ExecutorApi.Zip(files));

    [Fact]
    public async Task Additional_files_sit_beside_the_source_and_stderr_can_be_redirected()
    {
        var additional = Zip(
            ("helper.py", "def greet(name):\n    return f'hello, {name}'\n"),
            ("data/names.txt", "Ada\nGrace\n"));
        var run = await SubmitAndWaitAsync(new
        {
            source_code = "import sys, helper\nfor name in open('data/names.txt').read().split():\n    print(helper.greet(name))\nprint('to stderr', file=sys.stderr)\n",
            language_id = 71,
            additional_files = additional,
            redirect_stderr_to_stdout = true,
            expected_output = "hello, Ada\nhello, Grace\nto stderr\n",
        }, "base64_encoded=false&wait=true&fields=stdout,stderr,status,redirect_stderr_to_stdout");

        Assert.Equal(3, Status(run)); // Accepted: judged on the combined output
        Assert.Equal("hello, Ada\nhello, Grace\nto stderr\n", run.GetProperty("stdout").GetString());
        Assert.Equal(JsonValueKind.Null, run.GetProperty("stderr").ValueKind);
        Assert.True(run.GetProperty("redirect_stderr_to_stdout").GetBoolean());

        var apart = await SubmitAndWaitAsync(new { source_code = "import sys\nprint('out')\nprint('err', file=sys.stderr)\n", language_id = 71 });
        Assert.Equal(("out\n", "err\n"), (apart.GetProperty("stdout").GetString(), apart.GetProperty("stderr").GetString()));
        Assert.True((await stack.Gateway.GetFromJsonAsync<JsonElement>("/config_info")).GetProperty("enable_additional_files").GetBoolean());
    }

    [Fact]
    public async Task What_executor_does_not_do_is_refused_never_ignored()
    {
        async Task<JsonElement> RefusedAsync(object submission, HttpStatusCode expected)
        {
            using var response = await stack.Gateway.PostAsJsonAsync("/submissions?base64_encoded=false", submission);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {body}");
            return body;
        }

        var network = await RefusedAsync(new { source_code = "print(1)", language_id = 71, enable_network = true }, HttpStatusCode.UnprocessableEntity);
        Assert.Equal("enabling network is not allowed", network.GetProperty("enable_network")[0].GetString());
        var runs = await RefusedAsync(new { source_code = "print(1)", language_id = 71, number_of_runs = 3 }, HttpStatusCode.UnprocessableEntity);
        Assert.True(runs.TryGetProperty("number_of_runs", out _));
        var compiler = await RefusedAsync(new { source_code = "print(1)", language_id = 71, compiler_options = "-O2" }, HttpStatusCode.UnprocessableEntity);
        Assert.True(compiler.TryGetProperty("compiler_options", out _));
        var notZip = await RefusedAsync(new { source_code = "print(1)", language_id = 71, additional_files = B64("not a zip") }, HttpStatusCode.BadRequest);
        Assert.Contains("not a readable zip", notZip.GetProperty("error").GetString(), StringComparison.Ordinal);
        var escaping = await RefusedAsync(new { source_code = "print(1)", language_id = 71, additional_files = Zip(("../escape.py", "x = 1")) }, HttpStatusCode.BadRequest);
        Assert.Contains("escape.py", escaping.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_callback_url_gets_a_put_of_the_submission()
    {
        using var receiver = CallbackReceiver.Start();
        using var created = await stack.Gateway.PostAsJsonAsync("/submissions", new { source_code = "print('called back')", language_id = 71, callback_url = receiver.Url });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var token = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();

        var delivery = await receiver.WaitForAsync(d => true, TimeSpan.FromSeconds(30));

        Assert.Equal("PUT", delivery.Method);
        var body = JsonDocument.Parse(delivery.Body).RootElement;
        Assert.Equal(token, body.GetProperty("token").GetString());
        Assert.Equal(3, Status(body));
        Assert.Equal("called back\n", body.GetProperty("stdout").GetString());
    }
}
