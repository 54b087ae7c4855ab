using Executor.Prewarm.Apis;
using Executor.Prewarm.Extensions;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();
builder.Services.AddProblemDetails();

var app = builder.Build();

app.UseInternalErrorProblems();
app.MapDefaultEndpoints();
app.MapOpenApi();
app.MapPoolApi();

app.Run();

public partial class Program;
