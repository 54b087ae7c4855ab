using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static Executor.EndToEndTests.Judge0Api;

namespace Executor.EndToEndTests;

/// <summary>
/// Judge0 CE 1.13's API through the gateway, run for real: the documented example, additional files, the callback. Its
/// shapes, verdicts and errors are proven in process (Executor.ServiceTests' Judge0Tests).
/// </summary>
[Collection(StackCollection.Name)]
public sealed class Judge0Tests(StackFixture stack)
{
    private Task<JsonElement> SubmitAndWaitAsync(object submission, string query = "base64_encoded=false&wait=true") =>
        stack.Gateway.SubmitJudge0Async(submission, query);

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
