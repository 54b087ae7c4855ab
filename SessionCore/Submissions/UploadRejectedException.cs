using Microsoft.AspNetCore.Mvc;

namespace Executor.SessionCore.Submissions;

/// <summary>An upload refused with a problem the client can act on. Thrown inside upload reading, answered at its edge.</summary>
public sealed class UploadRejectedException(ProblemDetails problem) : Exception(problem.Detail)
{
    public ProblemDetails Problem { get; } = problem;

    public static UploadRejectedException BadRequest(string type, string title, string detail) =>
        new(Problems.Create(StatusCodes.Status400BadRequest, type, title, detail));

    public static UploadRejectedException MissingFile(string detail) => BadRequest("missing-file", "No script uploaded", detail);

    public static UploadRejectedException TooLarge(string detail) =>
        new(Problems.Create(StatusCodes.Status413PayloadTooLarge, "upload-too-large", "Submission too large", detail));
}
