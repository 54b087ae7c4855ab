using System.Net;
using System.Net.Http.Json;
using System.Text;
using Executor.SessionCore.Access;
using Executor.SessionCore.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Executor.ServiceTests;

/// <summary>
/// Every refusal of a graded submission or of a program in another language is an RFC 9457 problem, in the form and in
/// JSON alike, and stores nothing: this class submits nothing that is accepted, so its service stores no session at all.
/// </summary>
public sealed class GradingRefusalTests(GradingRefusalTests.Fixture service) : IClassFixture<GradingRefusalTests.Fixture>
{
    /// <summary>A host offering the languages too, and small limits, so that a test passes them without megabytes.</summary>
    public sealed class Fixture : SessionServiceFixture
    {
        protected override IReadOnlyList<RuntimeInfo> Runtimes => [.. FakeRunnerHost.Runtimes, .. FakeRunnerHost.Languages];

        protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
        {
            ["Sessions:MaxTestCases"] = "3",
            ["Sessions:MaxTestCaseBytes"] = "1000",
            ["Sessions:MaxGradingSeconds"] = "30",
        };
    }

    private const string Program = "int main(void) { return 0; }\n";

    public static TheoryData<string, string, string, HttpStatusCode> Refusals => new()
    {
        { "test_cases", "[{\"stdin\": \"1\"}, {\"stdin\": \"2\"}, {\"stdin\": \"3\"}, {\"stdin\": \"4\"}]", "bad-test-cases", HttpStatusCode.BadRequest },
        { "test_cases", "[]", "bad-test-cases", HttpStatusCode.BadRequest },
        { "test_cases", $"[{{\"stdin\": \"{new string('1', 600)}\", \"expected_output\": \"{new string('2', 600)}\"}}]", "bad-test-cases", HttpStatusCode.BadRequest },
        { "test_cases", "[{\"timeout_seconds\": 20}, {\"timeout_seconds\": 20}]", "bad-test-cases", HttpStatusCode.BadRequest },
        { "test_cases", "[{\"timeout_seconds\": 0.01}]", "bad-test-cases", HttpStatusCode.BadRequest },
        { "test_cases", "[{\"stdin\": \"1\"", "bad-test-cases", HttpStatusCode.BadRequest },
        { "test_cases", "{\"stdin\": \"1\"}", "bad-test-cases", HttpStatusCode.BadRequest },
        { "test_cases", "[\"1 2\"]", "bad-test-cases", HttpStatusCode.BadRequest },
        { "test_cases", "[{\"stdin\": 1}]", "bad-test-cases", HttpStatusCode.BadRequest },
        { "test_cases", "[{\"expected\": \"3\"}]", "bad-test-cases", HttpStatusCode.BadRequest },
        { "comparison", "fuzzy", "bad-test-cases", HttpStatusCode.BadRequest },
        { "tolerance", "lots", "bad-test-cases", HttpStatusCode.BadRequest },
        { "tolerance", "-1", "bad-test-cases", HttpStatusCode.BadRequest },
        { "stop_on_failure", "perhaps", "bad-test-cases", HttpStatusCode.BadRequest },
        { "stdin_mode", "interactive", "bad-test-cases", HttpStatusCode.BadRequest },
        { "compiler_options", "-DX='unterminated", "bad-compiler-options", HttpStatusCode.BadRequest },
        { "compiler_options", "[\"-O2\", 3]", "bad-compiler-options", HttpStatusCode.BadRequest },
        { "compiler_options", "-O2 \\", "bad-compiler-options", HttpStatusCode.BadRequest },
        { "compile_timeout_seconds", "soon", "bad-compile-timeout", HttpStatusCode.BadRequest },
        { "compile_timeout_seconds", "0.5", "bad-compile-timeout", HttpStatusCode.BadRequest },
        { "runtime", "python-3.11", "entrypoint-language-mismatch", HttpStatusCode.BadRequest },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task A_form_that_breaks_a_rule_is_a_problem_and_nothing_is_stored(string field, string value, string type, HttpStatusCode status)
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("main.c", Program);
        form.Add(new StringContent(value), field);
        if (field != "test_cases")
        {
            form.Add(new StringContent("[{\"stdin\": \"1\"}]"), "test_cases");
        }
        using var response = await service.Client.PostAsync("/execute", form);
        await ProblemAssert.IsProblemAsync(response, status, type);
        await NothingStoredAsync();
    }

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task The_same_in_json_is_the_same_problem_and_nothing_is_stored(string field, string value, string type, HttpStatusCode status)
    {
        var body = new Dictionary<string, object?> { ["code"] = Program, ["entrypoint"] = "main.c", [field] = value };
        if (field != "test_cases")
        {
            body["test_cases"] = new[] { new { stdin = "1" } };
        }
        using var response = await service.Client.PostAsJsonAsync("/execute", body);
        await ProblemAssert.IsProblemAsync(response, status, type);
        await NothingStoredAsync();
    }

    [Theory]
    [InlineData("{\"code\": \"x\", \"test_cases\": 3}", "bad-test-cases")]
    [InlineData("{\"code\": \"x\", \"test_cases\": {\"stdin\": \"1\"}}", "bad-test-cases")]
    [InlineData("{\"code\": \"x\", \"test_cases\": [{\"stdin\": \"1\", \"timeout_seconds\": \"2\"}]}", "bad-test-cases")]
    [InlineData("{\"code\": \"x\", \"compiler_options\": 2}", "bad-compiler-options")]
    [InlineData("{\"code\": \"x\", \"compiler_options\": [\"-O2\", null]}", "bad-compiler-options")]
    [InlineData("{\"code\": \"x\", \"comparison\": [\"exact\"], \"test_cases\": [{}]}", "bad-json")]
    [InlineData("{\"code\": \"x\", \"comparison\": \"exact\"}", "bad-test-cases")]
    public async Task Json_values_of_the_wrong_type_are_400_problems(string json, string type)
    {
        using var response = await service.Client.PostAsync("/execute", new StringContent(json, Encoding.UTF8, "application/json"));
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, type);
        await NothingStoredAsync();
    }

    [Fact]
    public async Task A_c_file_for_the_python_runtime_names_the_runtimes_of_its_language()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("solution.c", Program);
        form.Add(new StringContent("python-3.11"), "runtime");
        using var response = await service.Client.PostAsync("/execute", form);
        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "entrypoint-language-mismatch");
        Assert.Contains("c-gcc-12", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        using var text = await service.Client.UploadAsync("hello", fileName: "notes.txt");
        await ProblemAssert.IsProblemAsync(text, HttpStatusCode.BadRequest, "not-python");
        await NothingStoredAsync();
    }

    [Fact]
    public async Task A_sandbox_of_a_runtime_that_is_not_python_is_a_400_problem_listing_the_python_runtimes()
    {
        using var response = await service.Client.PostAsJsonAsync("/sandboxes", new { runtime = "c-gcc-12" });
        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "runtime-not-stateful");
        Assert.Equal(["python-3.11", "python-3.11-data"], problem.GetProperty("runtimes").EnumerateArray().Select(r => r.GetString()));
        Assert.Empty(service.Host.Sandboxes);
    }

    private async Task NothingStoredAsync()
    {
        var store = service.Factory.Services.GetRequiredService<IApiKeyStore>();
        Assert.Equal((0, 0), await store.CountUnfinishedAsync(Caller.AnonymousId, CancellationToken.None));
        Assert.Equal(0, await store.CountStoredBytesAsync(Caller.AnonymousId, CancellationToken.None));
    }
}
