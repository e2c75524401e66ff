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
/// compiling alone, then binding every file's code for the index (no compiler has bound it here), the
/// context engine, and the provenance engine.
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
            var index = Time(() => fresh.SyntaxTrees.Sum(t => model.Index.MethodsIn(t).Count));
            var methods = fresh.SyntaxTrees.SelectMany(t => model.Index.MethodsIn(t)).ToList();
            var engine = Time(() => methods.Sum(m => model.Analyze(m).Findings.Length));
            var provenance = ProvenanceModel.Get(model);
            var prov = Time(() => methods.Sum(m => provenance.Analyze(m).Length));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"compile {compile:F0} ms | index (binding) {index:F0} ms ({index / compile * 100:F0}%), context engine {engine:F0} ms ({engine / compile * 100:F0}%), provenance {prov:F0} ms ({prov / compile * 100:F0}%)"));
        }
    }

    private static double Time(Func<int> f)
    {
        GC.Collect();
        var sw = Stopwatch.StartNew();
        f();
        return sw.Elapsed.TotalMilliseconds;
    }
}

/// <summary>
/// A reference point: each file's bodies turned into operations from a semantic-model action, through the
/// driver's model after the compiler has bound them (<c>--only perfile</c>). It costs next to nothing, which is
/// why the KH rules read code this way rather than through operation-block actions.
/// </summary>
[Microsoft.CodeAnalysis.Diagnostics.DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PerFileBindingAnalyzer : Microsoft.CodeAnalysis.Diagnostics.DiagnosticAnalyzer
{
    private static readonly DiagnosticDescriptor Rule = new("KH0002", "x", "x", "none", DiagnosticSeverity.Hidden, true);
    public override System.Collections.Immutable.ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => System.Collections.Immutable.ImmutableArray.Create(Rule);
    public override void Initialize(Microsoft.CodeAnalysis.Diagnostics.AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(Microsoft.CodeAnalysis.Diagnostics.GeneratedCodeAnalysisFlags.None);
        context.RegisterSemanticModelAction(ctx =>
        {
            int n = 0;
            foreach (var m in ctx.SemanticModel.SyntaxTree.GetRoot().DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.BaseMethodDeclarationSyntax>())
                n += ctx.SemanticModel.GetOperation(m)?.Descendants().Count() ?? 0;
        });
    }
}
