using Microsoft.AspNetCore.Http.Features;

namespace Executor.Gateway.Extensions;

/// <summary>
/// Problems the gateway answers itself (the proxy refused the body, or the service behind a route is down) get a
/// detail a client can act on, in the same shape as the services' own problems.
/// </summary>
public static class GatewayProblems
{
    public static void Describe(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        problem.Detail ??= problem.Status switch
        {
            StatusCodes.Status413PayloadTooLarge => $"The request body exceeds this route's limit of {context.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize} bytes.",
            StatusCodes.Status502BadGateway or StatusCodes.Status503ServiceUnavailable => "The service behind this route is unavailable; retry shortly.",
            StatusCodes.Status504GatewayTimeout => "The service behind this route did not answer in time; retry shortly.",
            _ => null,
        };
    }
}
