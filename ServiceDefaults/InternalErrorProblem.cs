using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What a caller sees of an exception that no handler of the service took: a 500 problem with a stable type, a plain
/// detail and the request's trace id, whatever the caller accepts and in every environment (./run.sh runs the services in
/// Development, where the framework would otherwise show exception pages). The exception, its message and its stack go to
/// the log only, where the exception handler middleware writes them under the same trace id.
/// </summary>
public static class InternalErrorProblem
{
    public const string Type = "urn:executor:problem:internal-error";

    /// <summary>The service's own exception handlers first (e.g. a store that cannot be reached is a 503), then this.</summary>
    public static IApplicationBuilder UseInternalErrorProblems(this IApplicationBuilder app) =>
        app.UseExceptionHandler(new ExceptionHandlerOptions { ExceptionHandler = WriteAsync });

    private static Task WriteAsync(HttpContext context)
    {
        var problem = new ProblemDetails
        {
            Status = StatusCodes.Status500InternalServerError,
            Type = Type,
            Title = "Internal error",
            Detail = "The service failed to handle this request. Nothing about the cause is shown here; the operators' logs have it under this trace id.",
        };
        // Named as the API names its members (snake_case), as the framework's own problems are named here.
        problem.Extensions["trace_id"] = Activity.Current?.Id ?? context.TraceIdentifier;
        // Written as JSON even for a caller that accepts only HTML: never an empty body, never a page of exception details.
        context.Response.StatusCode = StatusCodes.Status500InternalServerError;
        return context.Response.WriteAsJsonAsync(problem, (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json");
    }
}
