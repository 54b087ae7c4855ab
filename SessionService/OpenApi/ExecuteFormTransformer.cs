using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.Session.Apis;
using Executor.Session.Uploads;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Executor.Session.OpenApi;

/// <summary>
/// Describes POST /execute's multipart body. The handler reads the form itself, so that every malformed upload gets
/// a problem with a precise detail; declaring the body with Accepts() would let routing reject some with a bare 415.
/// </summary>
public sealed class ExecuteFormTransformer : IOpenApiOperationTransformer
{
    private static OpenApiSchema Text(string description) => new() { Type = JsonSchemaType.String, Description = description };

    /// <summary>The same fields as JSON: 'code' (one script) or 'files' with their contents instead of the uploaded files.</summary>
    private static OpenApiSchema JsonBody(IOpenApiSchema form)
    {
        var properties = form.Properties!.Where(p => p.Key != UploadReader.FileField).ToDictionary(p => p.Key, p => p.Value);
        properties[JsonUploadReader.CodeField] = Text("The program, as text (saved as main.py, or as the runtime's language names it: main.c, "
            + "main.cpp, Main.java, main.js, main.sh; or as 'entrypoint'). Or 'files'.");
        properties[JsonUploadReader.FilesField] = new OpenApiSchema
        {
            Type = JsonSchemaType.Array,
            Description = "The working directory's files (instead of 'code'); names may hold '/' for subdirectories.",
            Items = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Required = new HashSet<string> { "content" },
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["name"] = Text("The file's path in the working directory, e.g. main.py or data/input.csv."),
                    ["content"] = Text("The file's content, in its encoding."),
                    ["encoding"] = new OpenApiSchema
                    {
                        Type = JsonSchemaType.String,
                        Enum = [(JsonNode)JsonValue.Create("utf8"), JsonValue.Create("base64"), JsonValue.Create("hex")],
                        Description = "utf8 (the default), base64 or hex.",
                    },
                },
            },
        };
        properties[RunOptionsReader.ArgsField] = new OpenApiSchema
        {
            Type = JsonSchemaType.Array,
            Items = new OpenApiSchema { Type = JsonSchemaType.String },
            Description = "Command-line arguments (sys.argv[1:]), passed without a shell.",
        };
        properties[RunOptionsReader.EgressField] = EgressSchema();
        properties[RunOptionsReader.TestCasesField] = TestCasesSchema("A JSON array of test cases (or a string holding one)");
        properties[RunOptionsReader.CompilerOptionsField] = new OpenApiSchema
        {
            OneOf =
            [
                new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
                new OpenApiSchema { Type = JsonSchemaType.String },
            ],
            Description = CompilerOptionsText + " An array of strings, or one string split as a shell splits it.",
        };
        return new OpenApiSchema { Type = JsonSchemaType.Object, Properties = properties };
    }

    private const string CompilerOptionsText = "Options added to a compiled language's compiler command (C, C++, Java), e.g. -O2 -DLOCAL.";

    /// <summary>test_cases: each case's stdin, expected output, name and time limit.</summary>
    private static OpenApiSchema TestCasesSchema(string how) => new()
    {
        Type = JsonSchemaType.Array,
        Description = how + ": the program is prepared once (compiled where its language compiles) and run once per case, each from a "
            + "clean state; the result then has 'test_results' (a verdict per case: accepted, wrong_answer with a short diff, "
            + "time_limit_exceeded, memory_limit_exceeded, runtime_error, output_limit_exceeded, skipped; or compilation_error) and "
            + "'test_summary'. At most 100 cases and 8 MiB of input and expected output by default; the cases' time limits together "
            + "at most 300 s. Not with stdin_mode=interactive.",
        Items = new OpenApiSchema
        {
            Type = JsonSchemaType.Object,
            Properties = new Dictionary<string, IOpenApiSchema>
            {
                ["name"] = Text("The case's name, given back with its verdict."),
                ["stdin"] = Text("The program's stdin for this case (default empty)."),
                ["expected_output"] = Text("What stdout must be, as 'comparison' compares it; without it any output passes and only the exit counts."),
                ["timeout_seconds"] = new OpenApiSchema
                {
                    Type = JsonSchemaType.Number, Minimum = "0.1", Description = "This case's wall-clock limit (default: the submission's timeout_seconds).",
                },
            },
        },
    };

    private static OpenApiSchema EgressSchema() => new()
    {
        Type = JsonSchemaType.Array,
        Items = new OpenApiSchema { Type = JsonSchemaType.String },
        Description = "Network the run may reach, through its host's egress proxy only: host (ports 80 and 443), host:port or host:*, "
            + "each within what the operator allows the key (else a 400 names it). One field per destination, or one JSON array. "
            + "Without it the run has no network at all.",
    };

    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (context.Description.ActionDescriptor.EndpointMetadata.OfType<IEndpointNameMetadata>().Any(n => n.EndpointName == SessionsApi.ExecuteEndpointName))
        {
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Description = "The script to run.",
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["multipart/form-data"] = new()
                    {
                        Schema = new OpenApiSchema
                        {
                            Type = JsonSchemaType.Object,
                            Required = new HashSet<string> { UploadReader.FileField },
                            Properties = new Dictionary<string, IOpenApiSchema>
                            {
                                [UploadReader.FileField] = new OpenApiSchema
                                {
                                    Type = JsonSchemaType.Array,
                                    Items = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" },
                                    Description = "The program: a UTF-8 .py file (at most 1 MiB by default), or a .c, .cpp, .java, .js or .sh "
                                        + "file, which a runtime of its language runs (the first one, unless 'runtime' names it). Several 'file' "
                                        + "fields, or one .zip, become the working directory; their names may hold '/' for subdirectories.",
                                },
                                [UploadReader.EntrypointField] = Text("The file to run when several are uploaded; default main.py, else the only .py "
                                    + "file, else the only program (or the only main.*) of another language."),
                                [RunOptionsReader.StdinField] = Text("Text given to the script on stdin; without it stdin is empty."),
                                [RunOptionsReader.ArgsField] = new OpenApiSchema
                                {
                                    Type = JsonSchemaType.Array,
                                    Items = new OpenApiSchema { Type = JsonSchemaType.String },
                                    Description = "Command-line arguments (sys.argv[1:]), one per 'args' field, passed without a shell; "
                                        + "or one field holding a JSON array of strings.",
                                },
                                [RunOptionsReader.TimeoutField] = new OpenApiSchema
                                {
                                    Type = JsonSchemaType.Integer,
                                    Minimum = "1",
                                    Description = "Wall-clock limit in seconds (default 10); above the server's maximum (default 60) is a 400.",
                                },
                                [RunOptionsReader.MemoryField] = new OpenApiSchema
                                {
                                    Type = JsonSchemaType.Integer,
                                    Minimum = "16",
                                    Description = "Memory limit in MiB, with no swap (default 128); above the server's maximum (default 512) is a 400.",
                                },
                                [RunOptionsReader.RuntimeField] = Text("The runtime to run in, e.g. python-3.11-data (numpy, pandas, scipy, "
                                    + "matplotlib, pytest, already imported) or c-gcc-12, cpp-gcc-12, java-17, javascript-node-18, bash-5.2; "
                                    + "GET /runtimes lists them. Default: python-3.11 for a .py file, else the first runtime of the entry point's "
                                    + "language. Unknown, or not of the entry point's language: 400."),
                                [RunOptionsReader.StdinModeField] = new OpenApiSchema
                                {
                                    Type = JsonSchemaType.String,
                                    Enum = [(JsonNode)JsonValue.Create("batch"), JsonValue.Create("interactive")],
                                    Description = "batch (default): stdin is the 'stdin' field. interactive: stdin stays open for a client "
                                        + "attached at GET /result/{session_id}/attach (WebSocket) until it sends Ctrl-D or disconnects.",
                                },
                                [RunOptionsReader.EgressField] = EgressSchema(),
                                [RunOptionsReader.TestCasesField] = new OpenApiSchema
                                {
                                    Type = JsonSchemaType.String,
                                    Description = TestCasesSchema("One field holding a JSON array of {\"name\", \"stdin\", \"expected_output\", "
                                        + "\"timeout_seconds\"}").Description,
                                },
                                [RunOptionsReader.ComparisonField] = new OpenApiSchema
                                {
                                    Type = JsonSchemaType.String,
                                    Enum = [.. Comparisons.All.Select(c => (JsonNode)JsonValue.Create(c))],
                                    Description = "How each case's output is compared with its expected output: trailing_whitespace (the default, "
                                        + "as Judge0: trailing blanks of each line and trailing empty lines do not count), exact, or tokens "
                                        + "(whitespace-separated; numbers match within 'tolerance').",
                                },
                                [RunOptionsReader.ToleranceField] = new OpenApiSchema
                                {
                                    Type = JsonSchemaType.Number,
                                    Description = "For comparison=tokens: numbers match when they differ by at most this, absolutely or relatively (default 1e-6).",
                                },
                                [RunOptionsReader.StopOnFailureField] = new OpenApiSchema
                                {
                                    Type = JsonSchemaType.Boolean,
                                    Description = "true: no case runs after the first that fails (the rest are 'skipped'). Default false.",
                                },
                                [RunOptionsReader.CompilerOptionsField] = Text(CompilerOptionsText + " One string split as a shell splits it "
                                    + "(quotes respected, nothing expanded), or one field per option, or a JSON array of strings."),
                                [RunOptionsReader.CompileTimeoutField] = new OpenApiSchema
                                {
                                    Type = JsonSchemaType.Number,
                                    Minimum = "1",
                                    Description = "The compile stage's wall-clock limit in seconds (default 20), apart from the run's.",
                                },
                                [RunOptionsReader.CallbackField] = Text("An https (or allowed) URL that receives the result as a signed POST when the run ends "
                                    + "(header Executor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">); retried with backoff."),
                            },
                        },
                    },
                },
            };
            operation.RequestBody.Content!["application/json"] = new OpenApiMediaType { Schema = JsonBody(operation.RequestBody.Content["multipart/form-data"].Schema!) };
        }
        return Task.CompletedTask;
    }
}
