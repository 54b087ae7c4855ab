using System.Globalization;
using System.Text.Json;
using Executor.Contracts;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Submissions;
using Microsoft.Extensions.Primitives;

namespace Executor.Session.Uploads;

/// <summary>
/// Reads the native API's optional fields (the form's, or the same from JSON) into the core's typed options: stdin,
/// args, timeout_seconds, memory_mb, stdin_mode, callback_url and runtime; a graded run's test_cases, comparison, tolerance
/// and stop_on_failure; a compiled language's compiler_options and compile_timeout_seconds. It only reads them (a value
/// of the wrong shape is refused here); whether they are acceptable is <see cref="SubmissionRules"/>' to say, for every
/// surface alike.
/// </summary>
public static class RunOptionsReader
{
    public const string StdinField = SubmissionRules.StdinField;
    public const string ArgsField = SubmissionRules.ArgsField;
    public const string TimeoutField = SubmissionRules.TimeoutField;
    public const string MemoryField = SubmissionRules.MemoryField;
    public const string StdinModeField = "stdin_mode";
    public const string CallbackField = "callback_url";
    public const string RuntimeField = SubmissionRules.RuntimeField;
    public const string EgressField = Executor.SessionCore.Access.EgressGate.Field;
    public const string TestCasesField = SubmissionRules.TestCasesField;
    public const string ComparisonField = "comparison";
    public const string ToleranceField = "tolerance";
    public const string StopOnFailureField = "stop_on_failure";
    public const string CompilerOptionsField = SubmissionRules.CompilerOptionsField;
    public const string CompileTimeoutField = "compile_timeout_seconds";

    /// <summary>The members of a test case, as the JSON array of test_cases names them.</summary>
    private static readonly string[] CaseMembers = ["name", "stdin", "expected_output", "timeout_seconds"];

    public static RunOptions Read(IReadOnlyDictionary<string, StringValues> fields, SessionServiceOptions options) => new(
        Args(fields),
        fields.TryGetValue(StdinField, out var stdin) ? stdin.ToString() : null,
        Number(fields, TimeoutField) is { } timeout ? Whole(timeout) ?? throw SubmissionRules.BadTimeout(timeout, options) : null,
        Number(fields, MemoryField) is { } memory ? Whole(memory) ?? throw SubmissionRules.BadMemory(memory, options) : null,
        Interactive(fields),
        fields.TryGetValue(CallbackField, out var callback) && !string.IsNullOrWhiteSpace(callback.ToString()) ? callback.ToString().Trim() : null,
        fields.TryGetValue(RuntimeField, out var runtime) && !string.IsNullOrWhiteSpace(runtime.ToString()) ? runtime.ToString().Trim() : null,
        Egress: Executor.SessionCore.Access.EgressGate.Request(List(fields, EgressField, "bad-egress", "[\"pypi.example.org\", \"api.example.com:8443\"]")
            .Where(d => !string.IsNullOrWhiteSpace(d))),
        Grading: Grading(fields),
        Build: Build(fields));

    /// <summary>
    /// test_cases (one value: a JSON array of {"name", "stdin", "expected_output", "timeout_seconds"}) with comparison,
    /// tolerance and stop_on_failure; null without test_cases, which those three then cannot go without.
    /// </summary>
    private static GradingSpec? Grading(IReadOnlyDictionary<string, StringValues> fields)
    {
        var comparison = Text(fields, ComparisonField)?.ToLowerInvariant();
        var tolerance = Text(fields, ToleranceField) is { } given
            ? double.TryParse(given, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) ? number
                : throw BadCases($"'{ToleranceField}' must be a number, such as 0.000001; got '{Cut(given)}'.")
            : (double?)null;
        var stop = Text(fields, StopOnFailureField) is { } flag ? flag.ToLowerInvariant() switch
        {
            "true" or "1" or "on" or "yes" => true,
            "false" or "0" or "off" or "no" => false,
            _ => throw BadCases($"'{StopOnFailureField}' must be true or false; got '{Cut(flag)}'."),
        } : (bool?)null;
        if (Text(fields, TestCasesField) is not { } json)
        {
            return comparison is null && tolerance is null && stop is null ? null
                : throw BadCases($"'{ComparisonField}', '{ToleranceField}' and '{StopOnFailureField}' apply to '{TestCasesField}', which the request does not have.");
        }
        return new GradingSpec(Cases(json), comparison ?? Comparisons.TrailingWhitespace, tolerance, stop ?? false);
    }

    /// <summary>The test cases of a JSON array, each member of the type it must be (unknown members are refused: a misspelt expected_output must not pass every output).</summary>
    private static List<TestCase> Cases(string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw BadCases($"'{TestCasesField}' is not valid JSON ({e.Message}).");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                throw BadCases($"'{TestCasesField}' must be a JSON array of {{\"stdin\": \"...\", \"expected_output\": \"...\"}} objects.");
            }
            var cases = new List<TestCase>();
            foreach (var item in document.RootElement.EnumerateArray())
            {
                var at = $"test case {cases.Count}";
                if (item.ValueKind != JsonValueKind.Object)
                {
                    throw BadCases($"{at} is not an object with 'stdin' and 'expected_output'.");
                }
                if (item.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => !CaseMembers.Contains(n)) is { } unknown)
                {
                    throw BadCases($"{at} has '{Cut(unknown)}'; a test case has only {string.Join(", ", CaseMembers)}.");
                }
                var timeout = Member(item, "timeout_seconds", JsonValueKind.Number, at, "a number");
                cases.Add(new TestCase(
                    Member(item, "name", JsonValueKind.String, at, "a string")?.GetString(),
                    Member(item, "stdin", JsonValueKind.String, at, "a string")?.GetString() ?? "",
                    Member(item, "expected_output", JsonValueKind.String, at, "a string")?.GetString(),
                    timeout is { } t ? t.TryGetDouble(out var seconds) ? seconds : double.PositiveInfinity : null));
            }
            return cases;
        }
    }

    /// <summary>A member of a test case when it is there (and not null), refused unless of its kind.</summary>
    private static JsonElement? Member(JsonElement item, string name, JsonValueKind kind, string at, string what) =>
        !item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
            : value.ValueKind == kind ? value
            : throw BadCases($"{at}'s '{name}' must be {what}.");

    /// <summary>
    /// compiler_options (a line split as a shell splits it, quotes respected; or a JSON array of strings, or the field
    /// repeated, one option each) and
    /// compile_timeout_seconds; null when neither is given.
    /// </summary>
    private static BuildOptions? Build(IReadOnlyDictionary<string, StringValues> fields)
    {
        IReadOnlyList<string>? compilerOptions = null;
        if (Text(fields, CompilerOptionsField) is { } line)
        {
            // As args: a field that repeats is one option a value, a single JSON array the whole list; else one line to split.
            compilerOptions = line.StartsWith('[') || fields[CompilerOptionsField].Count > 1
                ? List(fields, CompilerOptionsField, "bad-compiler-options", "[\"-O2\", \"-DLOCAL\"]")
                : ShellWords.Split(line) ?? throw UploadRejectedException.BadRequest("bad-compiler-options", "Unreadable compiler options",
                    $"'{CompilerOptionsField}' has a quote left open or ends in a lone backslash: '{Cut(line)}'.");
        }
        var timeout = Text(fields, CompileTimeoutField) is { } given
            ? double.TryParse(given, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) ? seconds
                : throw UploadRejectedException.BadRequest("bad-compile-timeout", "Invalid compile timeout",
                    $"'{CompileTimeoutField}' must be a number of seconds; got '{Cut(given)}'.")
            : (double?)null;
        return compilerOptions is null && timeout is null ? null : new BuildOptions(compilerOptions, timeout);
    }

    private static UploadRejectedException BadCases(string detail) =>
        UploadRejectedException.BadRequest("bad-test-cases", "Unusable test cases", detail);

    /// <summary>A field's value, trimmed, or null when it is absent or blank.</summary>
    private static string? Text(IReadOnlyDictionary<string, StringValues> fields, string field) =>
        fields.TryGetValue(field, out var values) && values.ToString().Trim() is { Length: > 0 } text ? text : null;

    /// <summary>A client's value quoted back in a problem, at most 60 characters of it.</summary>
    private static string Cut(string value) => value.Length > 60 ? value[..60] + "…" : value;

    /// <summary>stdin_mode: "batch" (the default: stdin is the 'stdin' field, then end of file) or "interactive".</summary>
    private static bool Interactive(IReadOnlyDictionary<string, StringValues> fields) =>
        fields.TryGetValue(StdinModeField, out var values) ? values.ToString().Trim().ToLowerInvariant() switch
        {
            "" or "batch" => false,
            "interactive" => true,
            var other => throw UploadRejectedException.BadRequest("bad-stdin-mode", "Unknown stdin_mode",
                $"'{StdinModeField}' must be 'batch' (stdin is the '{StdinField}' field) or 'interactive' (stdin stays open for "
                + $"GET /result/{{session_id}}/attach); got '{other}'."),
        } : false;

    /// <summary>
    /// Each 'args' field is one argument, passed to the script as is (no shell). A single field holding a JSON
    /// array of strings is read as the whole list, for clients that cannot repeat a field.
    /// </summary>
    private static string[] Args(IReadOnlyDictionary<string, StringValues> fields) => List(fields, ArgsField, "bad-args", "[\"-v\", \"input.txt\"]");

    /// <summary>
    /// A field that may repeat, each value one item; a single value holding a JSON array of strings is the whole list.
    /// 'egress' reads the same way as 'args'.
    /// </summary>
    private static string[] List(IReadOnlyDictionary<string, StringValues> fields, string field, string problem, string example)
    {
        if (!fields.TryGetValue(field, out var values))
        {
            return [];
        }
        string[] args = [.. values.Select(v => v ?? "")];
        if (args is [var only] && only.TrimStart().StartsWith('['))
        {
            string?[]? parsed;
            try
            {
                parsed = JsonSerializer.Deserialize<string?[]>(only);
            }
            catch (JsonException)
            {
                parsed = null;
            }
            // null is valid JSON in an array of strings, but not an argument.
            if (parsed is null || parsed.Any(a => a is null))
            {
                throw UploadRejectedException.BadRequest(problem, $"Unreadable {field}",
                    $"'{field}' looks like a JSON array but is not an array of strings (such as {example}).");
            }
            args = [.. parsed.Select(a => a!)];
        }
        return args;
    }

    /// <summary>A number field as given, or null when it is absent or blank.</summary>
    private static string? Number(IReadOnlyDictionary<string, StringValues> fields, string field) =>
        fields.TryGetValue(field, out var values) && !string.IsNullOrWhiteSpace(values.ToString()) ? values.ToString() : null;

    private static int? Whole(string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : null;
}
