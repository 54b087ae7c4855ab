namespace Executor.Gateway.Extensions;

/// <summary>
/// The playground at / (wwwroot): static files only, each with a content security policy that lets the page run its own
/// scripts and talk to its own origin and nothing else. Should anything a run produced ever reach the page's document,
/// it could not load script from elsewhere or send the page's key away.
/// </summary>
public static class Playground
{
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; "
        + "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    public static WebApplication UsePlayground(this WebApplication app)
    {
        app.UseDefaultFiles();
        app.UseStaticFiles(new StaticFileOptions
        {
            OnPrepareResponse = file =>
            {
                var headers = file.Context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
            },
        });
        return app;
    }
}
