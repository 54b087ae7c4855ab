using System.Text;
using Executor.Session.Sessions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;

namespace Executor.Session.Uploads;

/// <summary>
/// Reads and checks the script a client uploads. Every refusal is a problem the client can act on: what was
/// wrong, and what is expected instead. The client's file name is never used as a path.
/// </summary>
public static class UploadReader
{
    public const string FileField = "file";
    public const string DefaultEntrypoint = "main.py";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static async Task<(Upload? Upload, ProblemDetails? Problem)> ReadAsync(
        HttpRequest request, SessionServiceOptions options, CancellationToken cancellationToken)
    {
        if (!request.HasFormContentType || request.ContentType?.Contains("multipart/form-data", StringComparison.OrdinalIgnoreCase) != true)
        {
            return Refuse(StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "Expected a multipart form",
                $"POST /execute takes multipart/form-data with the script in a field named '{FileField}' (got '{request.ContentType ?? "no content type"}').");
        }

        IFormCollection form;
        try
        {
            if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = options.MaxUploadBytes;
            }
            form = await request.ReadFormAsync(new FormOptions { MultipartBodyLengthLimit = options.MaxUploadBytes }, cancellationToken);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(options);
        }
        catch (InvalidDataException e) when (e.Message.Contains("length limit", StringComparison.OrdinalIgnoreCase))
        {
            return TooLarge(options);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or BadHttpRequestException)
        {
            return Refuse(StatusCodes.Status400BadRequest, "malformed-form", "Malformed multipart form",
                $"The multipart body could not be read: {e.Message}");
        }

        var files = form.Files.GetFiles(FileField);
        if (files.Count == 0)
        {
            var others = form.Files.Count > 0 ? $" (the form has files in: {string.Join(", ", form.Files.Select(f => $"'{f.Name}'").Distinct())})" : "";
            return Refuse(StatusCodes.Status400BadRequest, "missing-file", "No script uploaded",
                $"The form has no file field named '{FileField}'{others}: upload the script as multipart/form-data field '{FileField}'.");
        }
        if (files.Count > 1)
        {
            return Refuse(StatusCodes.Status400BadRequest, "too-many-files", "One script at a time",
                $"The form has {files.Count} '{FileField}' fields; send exactly one .py script.");
        }

        var file = files[0];
        var name = Path.GetFileName(file.FileName ?? "");
        if (!name.EndsWith(".py", StringComparison.OrdinalIgnoreCase))
        {
            return Refuse(StatusCodes.Status400BadRequest, "not-python", "Not a Python script",
                $"'{file.FileName}' is not a Python script: the file name must end in .py.");
        }
        if (file.Length == 0)
        {
            return Refuse(StatusCodes.Status400BadRequest, "empty-file", "Empty script",
                $"'{file.FileName}' is empty: there is nothing to run.");
        }
        if (file.Length > options.MaxScriptBytes)
        {
            return TooLarge(options, $"'{file.FileName}' is {file.Length} bytes");
        }

        var content = new byte[file.Length];
        await using (var stream = file.OpenReadStream())
        {
            await stream.ReadExactlyAsync(content, cancellationToken);
        }
        try
        {
            StrictUtf8.GetCharCount(content);
        }
        catch (DecoderFallbackException e)
        {
            return Refuse(StatusCodes.Status400BadRequest, "not-utf8", "Not UTF-8 text",
                $"'{file.FileName}' is not UTF-8 text (invalid byte at offset {e.Index}): Python source must be UTF-8.");
        }

        return (new Upload(SafeName(name), [new SessionFile(SafeName(name), content)]), null);
    }

    /// <summary>The client's name when it is a plain, safe file name (tracebacks then read naturally), else main.py.</summary>
    private static string SafeName(string name) =>
        name.Length <= 100 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.') && !name.StartsWith('.')
            ? name
            : DefaultEntrypoint;

    private static (Upload?, ProblemDetails?) TooLarge(SessionServiceOptions options, string? what = null) =>
        Refuse(StatusCodes.Status413PayloadTooLarge, "script-too-large", "Script too large",
            $"{what ?? "The upload"} exceeds the limit of {options.MaxScriptBytes} bytes ({options.MaxScriptBytes / 1024.0 / 1024:0.##} MiB).");

    private static (Upload?, ProblemDetails?) Refuse(int status, string type, string title, string detail) =>
        (null, Problems.Create(status, type, title, detail));
}

public sealed record Upload(string Entrypoint, IReadOnlyList<SessionFile> Files);
