using Microsoft.AspNetCore.Mvc;

namespace Executor.SessionCore.Submissions;

/// <summary>An upload refused with a problem the client can act on. Thrown inside upload reading, answered at its edge.</summary>
public sealed class UploadRejectedException(ProblemDetails problem) : Exception(problem.Detail)
{
    public ProblemDetails Problem { get; } = problem;

    public static UploadRejectedException BadRequest(string type, string title, string detail) =>
        new(Problems.Create(StatusCodes.Status400BadRequest, type, title, detail));

    public static UploadRejectedException MissingFile(string detail) => BadRequest("missing-file", "No script uploaded", detail);

    public static UploadRejectedException EmptyScript(string name) => BadRequest("empty-file", "Empty script", $"'{name}' is empty: there is nothing to run.");

    /// <summary>A route that takes a multipart form got something else.</summary>
    public static UploadRejectedException NotAForm(string detail) =>
        new(Problems.Create(StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "Expected a multipart form", detail));

    public static UploadRejectedException MalformedForm(Exception e) =>
        BadRequest("malformed-form", "Malformed multipart form", $"The multipart body could not be read: {e.Message}");

    public static UploadRejectedException TooLarge(string detail) =>
        new(Problems.Create(StatusCodes.Status413PayloadTooLarge, "upload-too-large", "Upload too large", detail));
}
