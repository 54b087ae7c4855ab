using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Executor.EndToEndTests;

[Collection(StackCollection.Name)]
public sealed class UploadValidationTests(StackFixture stack)
{
    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string type)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.Equal("urn:executor:problem:" + type, problem.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
    }

    [Fact]
    public async Task A_form_without_a_file_field_is_a_400_problem()
    {
        using var response = await stack.Gateway.UploadAsync("print(1)", field: "script");
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "missing-file");
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
        using var response = await stack.Gateway.PostAsync("/execute", form);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"answered {(int)response.StatusCode}: {body}");
        Assert.Equal("urn:executor:problem:bad-args", JsonDocument.Parse(body).RootElement.GetProperty("type").GetString());
        Assert.DoesNotContain("Exception", body, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_is_not_py_is_a_400_problem()
    {
        using var response = await stack.Gateway.UploadAsync("print(1)", fileName: "script.txt");
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "not-python");
    }

    [Fact]
    public async Task An_empty_file_is_a_400_problem()
    {
        using var response = await stack.Gateway.UploadAsync("");
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "empty-file");
    }

    [Fact]
    public async Task A_file_over_one_mebibyte_is_a_413_problem()
    {
        using var response = await stack.Gateway.UploadBytesAsync(Encoding.ASCII.GetBytes(new string('#', 1024 * 1024 + 1)), "big.py");
        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "script-too-large");
    }

    [Fact]
    public async Task A_body_far_over_the_limit_is_refused_with_a_413_problem()
    {
        // As a careful client sends a large upload: it asks first (Expect: 100-continue) and the gateway refuses at once.
        using var form = new MultipartFormDataContent();
        form.AddFile("huge.py", new byte[8 * 1024 * 1024]);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/execute") { Content = form };
        request.Headers.ExpectContinue = true;
        using var response = await stack.Gateway.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_file_that_is_not_utf8_is_a_400_problem()
    {
        using var response = await stack.Gateway.UploadBytesAsync([0x70, 0x72, 0xff, 0xfe, 0x0a], "bad.py");
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "not-utf8");
    }

    [Fact]
    public async Task A_body_that_is_not_multipart_is_a_415_problem()
    {
        using var response = await stack.Gateway.PostAsync("/execute", new StringContent("print(1)", Encoding.UTF8, "text/plain"));
        await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType, "unsupported-media-type");
    }

    [Theory]
    [InlineData("GET", "/result/0123456789abcdef0123456789abcdef")]
    [InlineData("POST", "/cleanup/0123456789abcdef0123456789abcdef")]
    [InlineData("GET", "/result/not-an-id")]
    public async Task Unknown_sessions_are_404_problems(string method, string path)
    {
        using var response = await stack.Gateway.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        await AssertProblemAsync(response, HttpStatusCode.NotFound, "session-not-found");
    }
}
