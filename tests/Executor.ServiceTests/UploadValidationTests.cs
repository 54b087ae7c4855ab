using System.Net;
using System.Text;
using System.Text.Json;

namespace Executor.ServiceTests;

public sealed class UploadValidationTests(SessionServiceFixture service) : IClassFixture<SessionServiceFixture>
{
    [Fact]
    public async Task A_form_without_a_file_field_is_a_400_problem()
    {
        using var response = await service.Client.UploadAsync("print(1)", field: "script");
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "missing-file");
    }

    [Theory]
    [InlineData("[null]")]
    [InlineData("[\"a\", null]")]
    [InlineData("[1]")]
    public async Task Args_that_are_a_json_array_of_anything_but_strings_are_a_400_problem_without_exception_text(string args)
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", "print(1)");
        form.Add(new StringContent(args), "args");
        using var response = await service.Client.PostAsync("/execute", form);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"answered {(int)response.StatusCode}: {body}");
        Assert.Equal("urn:executor:problem:bad-args", JsonDocument.Parse(body).RootElement.GetProperty("type").GetString());
        Assert.DoesNotContain("Exception", body, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_is_not_py_is_a_400_problem()
    {
        using var response = await service.Client.UploadAsync("print(1)", fileName: "script.txt");
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "not-python");
    }

    [Fact]
    public async Task An_empty_file_is_a_400_problem()
    {
        using var response = await service.Client.UploadAsync("");
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "empty-file");
    }

    [Fact]
    public async Task A_file_over_one_mebibyte_is_a_413_problem()
    {
        using var response = await service.Client.UploadBytesAsync(Encoding.ASCII.GetBytes(new string('#', 1024 * 1024 + 1)), "big.py");
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "script-too-large");
    }

    [Fact]
    public async Task A_file_that_is_not_utf8_is_a_400_problem()
    {
        using var response = await service.Client.UploadBytesAsync([0x70, 0x72, 0xff, 0xfe, 0x0a], "bad.py");
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "not-utf8");
    }

    [Fact]
    public async Task A_body_that_is_not_multipart_is_a_415_problem()
    {
        using var response = await service.Client.PostAsync("/execute", new StringContent("print(1)", Encoding.UTF8, "text/plain"));
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnsupportedMediaType, "unsupported-media-type");
    }

    [Theory]
    [InlineData("GET", "/result/0123456789abcdef0123456789abcdef")]
    [InlineData("POST", "/cleanup/0123456789abcdef0123456789abcdef")]
    [InlineData("GET", "/result/not-an-id")]
    public async Task Unknown_sessions_are_404_problems(string method, string path)
    {
        using var response = await service.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "session-not-found");
    }

    [Fact]
    public async Task A_valid_script_is_queued_claimed_by_a_runner_host_and_its_result_read_back()
    {
        var sessionId = await service.Client.SubmitAsync("print('hello')\n");
        var job = await service.Host.JobAsync(sessionId);

        Assert.Equal("main.py", job.Entrypoint);
        Assert.Equal("print('hello')\n", Encoding.UTF8.GetString(Assert.Single(job.Files).Content));
        var result = await service.Client.WaitForResultAsync(sessionId);
        Assert.Equal(("completed", "fake-host-1"), (result.GetProperty("status").GetString(), result.GetProperty("runner_host").GetString()));
    }
}
