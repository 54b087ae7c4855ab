using System.Globalization;
using System.Text;
using System.Text.Json;
using Executor.Contracts;
using Executor.SessionCore.Runtimes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Submissions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Primitives;

namespace Executor.Session.Uploads;

/// <summary>
/// POST /execute as JSON: <c>{"code": "..."}</c> or <c>{"files": [{"name", "content", "encoding": "utf8"|"base64"}]}</c>,
/// with the form's other fields under the same names. The files go through the same <see cref="WorkingDirectory"/>
/// checks and the fields through the same <see cref="RunOptionsReader"/> as a multipart form, so both ways of
/// submitting are refused alike, with the same problem types. test_cases and compiler_options may be JSON themselves
/// (an array) or a string holding what the form's field holds.
/// </summary>
public static class JsonUploadReader
{
    public const string CodeField = "code";
    public const string FilesField = "files";

    /// <summary>The scalar fields of the form, read from JSON strings, numbers or booleans.</summary>
    private static readonly string[] ScalarFields =
    [
        UploadReader.EntrypointField, RunOptionsReader.StdinField, RunOptionsReader.TimeoutField, RunOptionsReader.MemoryField,
        RunOptionsReader.RuntimeField, RunOptionsReader.CallbackField, RunOptionsReader.StdinModeField, RunOptionsReader.ComparisonField,
        RunOptionsReader.ToleranceField, RunOptionsReader.StopOnFailureField, RunOptionsReader.CompileTimeoutField,
    ];

    /// <summary>The fields that are JSON arrays in the body, or a string as in the form, with the problem of a value that is neither.</summary>
    private static readonly (string Field, string Problem, string Shape)[] ArrayFields =
    [
        (RunOptionsReader.TestCasesField, "bad-test-cases", "a JSON array of test cases (or a string holding one)"),
        (RunOptionsReader.CompilerOptionsField, "bad-compiler-options", "an array of strings, or one string split as a shell splits it"),
    ];

    public static bool IsJson(HttpRequest request) =>
        request.ContentType is { } type && (type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase)
            || type.Split(';')[0].Trim().EndsWith("+json", StringComparison.OrdinalIgnoreCase));

    public static async Task<(Submission? Submission, ProblemDetails? Problem)> ReadAsync(
        HttpRequest request, SessionServiceOptions options, RuntimeDirectory runtimes, CancellationToken cancellationToken)
    {
        try
        {
            using var document = await ParseAsync(request, options, cancellationToken);
            return (await ReadAsync(document.RootElement, options, runtimes, cancellationToken), null);
        }
        catch (UploadRejectedException e)
        {
            return (null, e.Problem);
        }
    }

    /// <summary>The submission a JSON object asks for.</summary>
    private static async Task<Submission> ReadAsync(JsonElement body, SessionServiceOptions options, RuntimeDirectory runtimes, CancellationToken cancellationToken)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw BadJson("the body must be a JSON object");
        }
        var fields = new Dictionary<string, StringValues>(StringComparer.Ordinal);
        foreach (var field in ScalarFields)
        {
            if (body.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null)
            {
                fields[field] = value.ValueKind switch
                {
                    JsonValueKind.String => value.GetString(),
                    JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
                    _ => throw BadJson($"'{field}' must be a string or a number"),
                };
            }
        }
        foreach (var (field, problem) in new[] { (RunOptionsReader.ArgsField, "bad-args"), (RunOptionsReader.EgressField, "bad-egress") })
        {
            if (body.TryGetProperty(field, out var list) && list.ValueKind != JsonValueKind.Null)
            {
                fields[field] = list.ValueKind == JsonValueKind.Array && list.EnumerateArray().All(a => a.ValueKind == JsonValueKind.String)
                    ? new StringValues([.. list.EnumerateArray().Select(a => a.GetString())])
                    : throw UploadRejectedException.BadRequest(problem, $"Unreadable {field}", $"'{field}' must be an array of strings.");
            }
        }
        foreach (var (field, problem, shape) in ArrayFields)
        {
            if (body.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null)
            {
                fields[field] = value.ValueKind switch
                {
                    JsonValueKind.Array => value.GetRawText(),
                    JsonValueKind.String => value.GetString(),
                    _ => throw UploadRejectedException.BadRequest(problem, $"Unreadable {field}", $"'{field}' must be {shape}."),
                };
            }
        }
        var entrypoint = fields.TryGetValue(UploadReader.EntrypointField, out var named) ? named.FirstOrDefault() : null;
        // A lone script that comes without a name is named for its language: the runtime's (main.c for c-gcc-12), else main.py.
        var runtime = fields.TryGetValue(RunOptionsReader.RuntimeField, out var id) && !string.IsNullOrWhiteSpace(id) ? id.ToString().Trim() : null;
        var unnamed = string.IsNullOrWhiteSpace(entrypoint)
            ? SourceLanguages.DefaultFile(await runtimes.LanguageOfAsync(runtime, cancellationToken) ?? SourceLanguages.Python)
            : entrypoint.Trim();
        var directory = await DirectoryAsync(Files(body, unnamed), options, cancellationToken);
        return SubmissionRules.Complete(directory, entrypoint, RunOptionsReader.Read(fields, options), options);
    }

    /// <summary>
    /// The working directory of a JSON request (the native one's, or a tool call's): one script as <c>code</c>, or
    /// <c>files</c>, each with a name (one alone may go without), its content and that content's encoding.
    /// </summary>
    public static async Task<WorkingDirectory> DirectoryAsync(
        IReadOnlyList<(string Name, byte[] Content)> files, SessionServiceOptions options, CancellationToken cancellationToken)
    {
        var directory = new WorkingDirectory(options);
        foreach (var (name, content) in files)
        {
            await directory.AddAsync(name, content, onlyFile: files.Count == 1, cancellationToken);
        }
        return directory;
    }

    private static List<(string Name, byte[] Content)> Files(JsonElement body, string unnamed)
    {
        var hasCode = body.TryGetProperty(CodeField, out var code) && code.ValueKind != JsonValueKind.Null;
        var hasFiles = body.TryGetProperty(FilesField, out var files) && files.ValueKind != JsonValueKind.Null;
        if (hasCode && !hasFiles && code.ValueKind != JsonValueKind.String)
        {
            throw BadJson($"'{CodeField}' must be a string");
        }
        List<(string?, string, string)>? list = null;
        if (hasFiles && !hasCode && files.ValueKind == JsonValueKind.Array)
        {
            list = [];
            foreach (var file in files.EnumerateArray())
            {
                if (file.ValueKind != JsonValueKind.Object || !file.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                {
                    throw BadJson("each of 'files' is an object with a string 'content' (and a 'name')");
                }
                list.Add((file.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null, content.GetString()!,
                    file.TryGetProperty("encoding", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()! : "utf8"));
            }
        }
        return Files(hasCode ? code.ValueKind == JsonValueKind.String ? code.GetString() : "" : null, hasFiles ? list ?? [] : null, unnamed);
    }

    /// <summary>
    /// The files of <c>code</c> or <c>files</c> (not both), decoded; refused as the native JSON API refuses them. The script
    /// given as code, or a lone file without a name, is <paramref name="unnamed"/> (main.py unless the language is another).
    /// </summary>
    public static List<(string Name, byte[] Content)> Files(
        string? code, IReadOnlyList<(string? Name, string Content, string Encoding)>? files, string unnamed = WorkingDirectory.DefaultEntrypoint)
    {
        if (code is not null && files is not null)
        {
            throw BadJson($"give either '{CodeField}' (one script) or '{FilesField}', not both");
        }
        if (code is not null)
        {
            return [(unnamed, Encoding.UTF8.GetBytes(code))];
        }
        if (files is not { Count: > 0 })
        {
            throw UploadRejectedException.MissingFile(
                $"The body has no script: send {{\"{CodeField}\": \"print(1)\"}} or {{\"{FilesField}\": [{{\"name\": \"main.py\", \"content\": \"...\"}}]}}.");
        }
        var list = new List<(string, byte[])>();
        foreach (var (given, content, encoding) in files)
        {
            var name = given is { Length: > 0 } ? given
                : files.Count == 1 ? unnamed
                : throw BadJson("with several files, each needs a 'name'");
            list.Add((name, Decode(name, content, encoding)));
        }
        return list;
    }

    /// <summary>A file's content as its encoding says: utf8 (the default), base64 or hex.</summary>
    public static byte[] Decode(string name, string content, string encoding)
    {
        try
        {
            return encoding.ToLowerInvariant() switch
            {
                "utf8" or "utf-8" or "" => Encoding.UTF8.GetBytes(content),
                "base64" => Convert.FromBase64String(content),
                "hex" => Convert.FromHexString(content),
                _ => throw BadJson($"'{name}': unknown encoding '{encoding}' (use utf8, base64 or hex)"),
            };
        }
        catch (FormatException)
        {
            throw BadJson($"'{name}': the content is not valid {encoding}");
        }
    }

    private static async Task<JsonDocument> ParseAsync(HttpRequest request, SessionServiceOptions options, CancellationToken cancellationToken)
    {
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            // Base64 content is a third larger than the files it holds.
            limit.MaxRequestBodySize = options.MaxUploadBytes * 4 / 3 + 4096;
        }
        try
        {
            return await JsonDocument.ParseAsync(request.Body, new JsonDocumentOptions { MaxDepth = 16 }, cancellationToken);
        }
        catch (JsonException e)
        {
            throw BadJson(string.Create(CultureInfo.InvariantCulture, $"the body is not valid JSON ({e.Message})"));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw UploadRejectedException.TooLarge($"The body exceeds the limit of {options.MaxUploadBytes * 4 / 3 + 4096} bytes.");
        }
    }

    /// <summary>A JSON request that cannot be used, and why.</summary>
    public static UploadRejectedException BadJson(string why) =>
        UploadRejectedException.BadRequest("bad-json", "Unreadable JSON request", $"The JSON request cannot be used: {why}.");
}
