using Executor.Contracts;

namespace Executor.Runner.Runs;

/// <summary>
/// The runner trusts no caller with paths: it checks again what SessionService checked, because a bad path here
/// would be a write outside the work directory. The launcher checks a third time inside the sandbox.
/// </summary>
public static class RunRequestValidator
{
    public static Dictionary<string, string[]> Validate(RunJob request)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(request.SessionId) || request.SessionId.Length > 128)
        {
            errors["session_id"] = ["A session id of 1 to 128 characters is required."];
        }
        if (request.Files is not { Count: > 0 })
        {
            errors["files"] = ["At least one file is required."];
        }
        else if (request.Files.FirstOrDefault(f => !IsSafeRelativePath(f.Path)) is { } bad)
        {
            errors["files"] = [$"'{bad.Path}' is not a safe relative path."];
        }
        if (!IsSafeRelativePath(request.Entrypoint) || request.Files?.Any(f => f.Path == request.Entrypoint) != true)
        {
            errors["entrypoint"] = ["The entry point must be one of the files."];
        }
        return errors;
    }

    public static bool IsSafeRelativePath(string? path) =>
        !string.IsNullOrEmpty(path)
        && path.Length <= 255
        && !path.StartsWith('/')
        && !path.Contains('\\', StringComparison.Ordinal)
        && !path.Any(char.IsControl)
        && path.Split('/').All(segment => segment is not ("" or "." or ".."));
}
