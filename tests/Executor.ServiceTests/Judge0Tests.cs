using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static Executor.EndToEndTests.Judge0Api;

namespace Executor.ServiceTests;

/// <summary>
/// Judge0 CE 1.13's shapes, with the requests and answers of Judge0's own documentation: how each way a run ends becomes
/// Judge0's verdict, base64 both ways, batches, its lists and errors. The runner host reports the ends the scripts would
/// have; the end-to-end suite runs the documented example, additional files and the callback for real.
/// </summary>
public sealed class Judge0Tests : IClassFixture<SessionServiceFixture>
{
    private readonly SessionServiceFixture _service;

    public Judge0Tests(SessionServiceFixture service)
    {
        _service = service;
        _service.Host.Respond = job => Runs.Script(job) switch
        {
            var s when s.Contains("int(input()) * 2", StringComparison.Ordinal) => Runs.Completed("42\n"),
            var s when s.Contains("sys.exit(2)", StringComparison.Ordinal) => Runs.Completed("", "bad\n", exitCode: 2),
            var s when s.Contains("ctypes.string_at(0)", StringComparison.Ordinal) => Runs.Signalled(11),
            var s when s.Contains("while True", StringComparison.Ordinal) => Runs.TimedOut(1),
            var s when s.Contains("numpy.arange(4).sum()", StringComparison.Ordinal) && job.Runtime == "python-3.11-data" => Runs.Completed("6\n"),
            _ => Runs.Echo(job),
        };
    }

    private Task<JsonElement> SubmitAndWaitAsync(object submission, string query = "base64_encoded=false&wait=true") =>
        _service.Client.SubmitJudge0Async(submission, query);


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
        using var created = await _service.Client.PostAsJsonAsync("/submissions/batch?base64_encoded=false", new
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
        var tokens = answers.Take(2).Select(a => a.GetProperty("token").GetString()!);

        var submissions = await _service.Client.EndedBatchAsync(tokens, "stdout,status");
        Assert.Equal(["one\n", "two\n"], submissions.Select(s => s.GetProperty("stdout").GetString()));
    }

    [Fact]
    public async Task Languages_statuses_about_and_errors_have_judge0_s_shapes()
    {
        var languages = await _service.Client.GetFromJsonAsync<JsonElement>("/languages");
        Assert.Contains(71, languages.EnumerateArray().Select(l => l.GetProperty("id").GetInt32()));
        Assert.Contains(92, languages.EnumerateArray().Select(l => l.GetProperty("id").GetInt32()));
        Assert.StartsWith("Python", (await _service.Client.GetFromJsonAsync<JsonElement>("/languages/71")).GetProperty("name").GetString());
        var statuses = await _service.Client.GetFromJsonAsync<JsonElement>("/statuses");
        Assert.Equal(Enumerable.Range(1, 14), statuses.EnumerateArray().Select(s => s.GetProperty("id").GetInt32()));
        Assert.True((await _service.Client.GetFromJsonAsync<JsonElement>("/about")).TryGetProperty("version", out _));
        Assert.True((await _service.Client.GetFromJsonAsync<JsonElement>("/config_info")).GetProperty("enable_wait_result").GetBoolean());

        using var missing = await _service.Client.PostAsJsonAsync("/submissions", new { language_id = 71 });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, missing.StatusCode);
        Assert.Equal("can't be blank", (await missing.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("source_code")[0].GetString());
        using var tooLong = await _service.Client.PostAsJsonAsync("/submissions", new { source_code = "print(1)", language_id = 71, cpu_time_limit = 100 });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, tooLong.StatusCode);
        Assert.True((await tooLong.Content.ReadFromJsonAsync<JsonElement>()).TryGetProperty("cpu_time_limit", out _));
        using var badBase64 = await _service.Client.PostAsJsonAsync("/submissions?base64_encoded=true", new { source_code = "not base64!", language_id = 71 });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, badBase64.StatusCode);
        using var unknown = await _service.Client.GetAsync("/submissions/0123456789abcdef0123456789abcdef");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task A_language_no_host_offers_is_neither_listed_nor_run()
    {
        var languages = await _service.Client.GetFromJsonAsync<JsonElement>("/languages");
        Assert.DoesNotContain(50, languages.EnumerateArray().Select(l => l.GetProperty("id").GetInt32()));
        using var language = await _service.Client.GetAsync("/languages/50");
        Assert.Equal(HttpStatusCode.NotFound, language.StatusCode);
        var config = await _service.Client.GetFromJsonAsync<JsonElement>("/config_info");
        Assert.False(config.GetProperty("enable_compiler_options").GetBoolean());
        Assert.Empty(config.GetProperty("allowed_languages_for_compile_options").EnumerateArray());

        using var submitted = await _service.Client.PostAsJsonAsync("/submissions", new { source_code = "int main(void) { return 0; }", language_id = 50 });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, submitted.StatusCode);
        Assert.Equal("language with id 50 doesn't exist", (await submitted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("language_id")[0].GetString());
    }

    [Fact]
    public async Task What_executor_does_not_do_is_refused_never_ignored()
    {
        async Task<JsonElement> RefusedAsync(object submission, HttpStatusCode expected)
        {
            using var response = await _service.Client.PostAsJsonAsync("/submissions?base64_encoded=false", submission);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {body}");
            return body;
        }

        // The network is what the operator allows the key: here nothing, so asking for it is refused, never ignored.
        var network = await RefusedAsync(new { source_code = "print(1)", language_id = 71, enable_network = true }, HttpStatusCode.BadRequest);
        Assert.Contains("may reach nothing", network.GetProperty("error").GetString(), StringComparison.Ordinal);
        var runs = await RefusedAsync(new { source_code = "print(1)", language_id = 71, number_of_runs = 3 }, HttpStatusCode.UnprocessableEntity);
        Assert.True(runs.TryGetProperty("number_of_runs", out _));
        var compiler = await RefusedAsync(new { source_code = "print(1)", language_id = 71, compiler_options = "-O2" }, HttpStatusCode.UnprocessableEntity);
        Assert.True(compiler.TryGetProperty("compiler_options", out _));
        var notZip = await RefusedAsync(new { source_code = "print(1)", language_id = 71, additional_files = B64("not a zip") }, HttpStatusCode.BadRequest);
        Assert.Contains("not a readable zip", notZip.GetProperty("error").GetString(), StringComparison.Ordinal);
        var escaping = await RefusedAsync(new { source_code = "print(1)", language_id = 71, additional_files = Zip(("../escape.py", "x = 1")) }, HttpStatusCode.BadRequest);
        Assert.Contains("escape.py", escaping.GetProperty("error").GetString(), StringComparison.Ordinal);
    }
}
