using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using KernelHarness.Analyzers.Provenance;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Benchmarks;

/// <summary>
/// Where the analyzers' time goes, one phase at a time on one thread with no driver (<c>--phases</c>):
/// compiling alone, then binding every file's code for the index (no compiler has bound it here), the entry
/// contexts (registrations), the control-flow graphs of the bodies that need one, the context engine, and the
/// provenance engine. Each phase prints its time and what it allocated.
/// </summary>
public static class Phases
{
    public static void Run(int files)
    {
        var source = Corpus.Build(files);
        for (int round = 0; round < 3; round++)
        {
            var c = source.Clone();
            var compile = Time(() => c.GetDiagnostics().Length);
            var fresh = source.Clone();
            var model = CompilationModel.Get(fresh)!;
            // The bodies' operations first (what the driver's models hold once the compiler has bound them), then the index alone.
            var operations = Time(() => fresh.SyntaxTrees.Sum(t => t.GetRoot().DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.BaseMethodDeclarationSyntax>().Count(m => model.SemanticModels.Get(t).GetOperation(m) is not null)));
            var index = Time(() => fresh.SyntaxTrees.Sum(t => model.Index.MethodsIn(t).Count));
            var methods = fresh.SyntaxTrees.SelectMany(t => model.Index.MethodsIn(t)).ToList();
            var contexts = Time(() => methods.Sum(m => model.OwnContexts(m).Length));
            // Graphs only for the bodies the engines cannot walk as written.
            var graphs = Time(() => methods.Count(m => model.Index.BodyOf(m) is { } body && model.StructuredOf(m, body) is null && model.CfgOf(m) is not null));
            var engine = Time(() => methods.Sum(m => model.Analyze(m).Findings.Length));
            var provenance = ProvenanceModel.Get(model);
            var prov = Time(() => methods.Sum(m => provenance.Analyze(m).Length));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"compile {compile} | binding and operations {operations}, index {index}, entry contexts {contexts}, control-flow graphs {graphs}, context engine {engine}, provenance {prov}"));
        }
    }

    /// <summary>Time and allocation of one phase (this thread's allocation; the compile allocates on others too).</summary>
    private static string Time(Func<int> f)
    {
        GC.Collect();
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        f();
        return string.Create(CultureInfo.InvariantCulture, $"{sw.Elapsed.TotalMilliseconds:F0} ms {(GC.GetAllocatedBytesForCurrentThread() - allocated) / 1048576.0:F0} MiB");
    }
}

/// <summary>
/// A reference point: each file's bodies turned into operations from a semantic-model action, through the
/// driver's model after the compiler has bound them (<c>--only perfile</c>). It costs next to nothing, which is
/// why the KH rules read code this way rather than through operation-block actions. With <see cref="Retain"/>
/// (<c>--only retain</c>) it keeps every operation tree to the end of the run, as a compilation-wide index must:
/// what holding the trees costs the garbage collector.
/// </summary>
[Microsoft.CodeAnalysis.Diagnostics.DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PerFileBindingAnalyzer : Microsoft.CodeAnalysis.Diagnostics.DiagnosticAnalyzer
{
    /// <summary>Keep every file's operation trees until the compilation's analysis ends.</summary>
    public bool Retain { get; init; }

    private static readonly DiagnosticDescriptor Rule = new("KH0002", "x", "x", "none", DiagnosticSeverity.Hidden, true);
    public override System.Collections.Immutable.ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => System.Collections.Immutable.ImmutableArray.Create(Rule);
    public override void Initialize(Microsoft.CodeAnalysis.Diagnostics.AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(Microsoft.CodeAnalysis.Diagnostics.GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            var kept = new System.Collections.Concurrent.ConcurrentBag<IOperation>();
            start.RegisterSemanticModelAction(ctx =>
            {
                int n = 0;
                foreach (var m in ctx.SemanticModel.SyntaxTree.GetRoot().DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.BaseMethodDeclarationSyntax>())
                {
                    var op = ctx.SemanticModel.GetOperation(m);
                    if (Retain && op is not null) kept.Add(op);
                    n += op?.Descendants().Count() ?? 0;
                }
            });
        });
    }
}

/// <summary>
/// A reference point: each body turned into operations from a code-block action (<c>--only codeblock</c>). Code-block
/// actions run as the compiler finishes each method, but the driver first works out every declaration's nodes for
/// them (ComputeDeclarationAnalysisData, about 130 ms of CPU per 1,000 files here): dearer than reading each file
/// from a semantic-model action once the compile is done.
/// </summary>
[Microsoft.CodeAnalysis.Diagnostics.DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class CodeBlockBindingAnalyzer : Microsoft.CodeAnalysis.Diagnostics.DiagnosticAnalyzer
{
    private static readonly DiagnosticDescriptor Rule = new("KH0003", "x", "x", "none", DiagnosticSeverity.Hidden, true);
    public override System.Collections.Immutable.ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => System.Collections.Immutable.ImmutableArray.Create(Rule);
    public override void Initialize(Microsoft.CodeAnalysis.Diagnostics.AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(Microsoft.CodeAnalysis.Diagnostics.GeneratedCodeAnalysisFlags.None);
        context.RegisterCodeBlockAction(ctx =>
        {
            var op = ctx.SemanticModel.GetOperation(ctx.CodeBlock);
            _ = op?.Descendants().Count() ?? 0;
        });
    }
}

/// <summary>
/// A reference point: each method's operations taken from a symbol action as the compiler finishes the method, and
/// kept until its file's semantic-model action (<c>--only early</c>): what starting the KH work during the compile,
/// on the cores the compiler leaves idle, would cost. The trees then live through the compile's collections, and the
/// collector pays for them (about half as much again GC time as the KH run, in perf samples).
/// </summary>
[Microsoft.CodeAnalysis.Diagnostics.DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class EarlyBindingAnalyzer : Microsoft.CodeAnalysis.Diagnostics.DiagnosticAnalyzer
{
    private static readonly DiagnosticDescriptor Rule = new("KH0004", "x", "x", "none", DiagnosticSeverity.Hidden, true);
    public override System.Collections.Immutable.ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => System.Collections.Immutable.ImmutableArray.Create(Rule);
    public override void Initialize(Microsoft.CodeAnalysis.Diagnostics.AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(Microsoft.CodeAnalysis.Diagnostics.GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            var kept = new System.Collections.Concurrent.ConcurrentBag<IOperation>();
            var models = new System.Collections.Concurrent.ConcurrentDictionary<SyntaxTree, SemanticModel>();
            start.RegisterSymbolAction(ctx =>
            {
                foreach (var r in ctx.Symbol.DeclaringSyntaxReferences)
                {
                    var node = r.GetSyntax(ctx.CancellationToken);
#pragma warning disable RS1030
                    var model = models.GetOrAdd(node.SyntaxTree, t => ctx.Compilation.GetSemanticModel(t));
#pragma warning restore RS1030
                    var op = model.GetOperation(node, ctx.CancellationToken);
                    if (op is not null) { kept.Add(op); _ = op.Descendants().Count(); }
                }
            }, SymbolKind.Method);
            start.RegisterSemanticModelAction(ctx => models.TryRemove(ctx.SemanticModel.SyntaxTree, out _));
        });
    }
}
