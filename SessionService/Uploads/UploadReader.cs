using Executor.SessionCore.Sessions;
using Executor.SessionCore.Submissions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Primitives;

namespace Executor.Session.Uploads;

/// <summary>
/// Reads what a client submits to POST /execute: one script, several files or a zip (the working directory), an
/// optional entry point, stdin, args and limits. Every refusal is a problem the client can act on; nothing is
/// stored unless the whole upload is acceptable. The client's file names are checked, never trusted as paths.
/// </summary>
public static class UploadReader
{
    public const string FileField = "file";
    public const string EntrypointField = "entrypoint";

    public static async Task<(Submission? Submission, ProblemDetails? Problem)> ReadAsync(
        HttpRequest request, SessionServiceOptions options, CancellationToken cancellationToken)
    {
        try
        {
            var form = await ReadFormAsync(request, options, cancellationToken);
            var parts = form.Files.GetFiles(FileField);
            if (parts.Count == 0)
            {
                var others = form.Files.Count > 0 ? $" (the form has files in: {string.Join(", ", form.Files.Select(f => $"'{f.Name}'").Distinct())})" : "";
                throw UploadRejectedException.BadRequest("missing-file", "No script uploaded",
                    $"The form has no file field named '{FileField}'{others}: upload the script as multipart/form-data field '{FileField}'.");
            }

            var directory = new WorkingDirectory(options);
            foreach (var part in parts)
            {
                await directory.AddAsync(part, onlyFile: parts.Count == 1, cancellationToken);
            }
            var fields = new Dictionary<string, StringValues>(form, StringComparer.OrdinalIgnoreCase);
            return (SubmissionRules.Complete(directory, form[EntrypointField].FirstOrDefault(), RunOptionsReader.Read(fields, options), options), null);
        }
        catch (UploadRejectedException e)
        {
            return (null, e.Problem);
        }
    }

    private static async Task<IFormCollection> ReadFormAsync(HttpRequest request, SessionServiceOptions options, CancellationToken cancellationToken)
    {
        if (!request.HasFormContentType || request.ContentType?.Contains("multipart/form-data", StringComparison.OrdinalIgnoreCase) != true)
        {
            throw UploadRejectedException.NotAForm(
                $"POST /execute takes multipart/form-data with the script in a field named '{FileField}' (got '{request.ContentType ?? "no content type"}').");
        }
        try
        {
            if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = options.MaxUploadBytes;
            }
            // A field may be as large as the whole body allows (4 MiB by default): test_cases holds up to
            // Sessions:MaxTestCaseBytes of input and expected output, and its size is the rules' to refuse, with their problem.
            return await request.ReadFormAsync(new FormOptions
            {
                MultipartBodyLengthLimit = options.MaxUploadBytes,
                ValueLengthLimit = (int)Math.Min(int.MaxValue, Math.Max(new FormOptions().ValueLengthLimit, options.MaxUploadBytes)),
            }, cancellationToken);
        }
        catch (Exception e) when (e is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge }
            || (e is InvalidDataException && e.Message.Contains("length limit", StringComparison.OrdinalIgnoreCase)))
        {
            throw UploadRejectedException.TooLarge(
                $"The upload exceeds the limit of {options.MaxUploadBytes} bytes (files at most {options.MaxScriptBytes} bytes each, {options.MaxTotalFileBytes} in all).");
        }
        catch (Exception e) when (e is InvalidDataException or IOException or BadHttpRequestException)
        {
            throw UploadRejectedException.MalformedForm(e);
        }
    }
}

