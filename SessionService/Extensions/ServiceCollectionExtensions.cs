using System.Text.Json;
using Executor.Session.Compat;
using Executor.Session.Live;
using Executor.Session.OpenApi;
using Executor.SessionCore;
using Executor.SessionCore.Callbacks;
using Executor.SessionCore.Sessions;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Executor.Session.Extensions;

public static class ServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddSessionCore();
        builder.Services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<SessionServiceOptions>>((kestrel, sessions) => kestrel.Limits.MaxRequestBodySize = sessions.Value.MaxUploadBytes);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        builder.Services.AddSingleton<StreamGate>();
        builder.Services.AddSingleton<ICallbackFormat, Judge0CallbackFormat>();

        builder.Services.AddOpenApi("v1", o => o.AddOperationTransformer<ExecuteFormTransformer>().AddSchemaTransformer<StatusEnumTransformer>()
            .AddDocumentTransformer<SecuritySchemeTransformer>());
        return builder;
    }
}
