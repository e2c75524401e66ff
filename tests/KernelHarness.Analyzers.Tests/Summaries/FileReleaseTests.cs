using System;
using System.Linq;
using System.Runtime.CompilerServices;
using KernelHarness.Analyzers.Summaries;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Xunit;

namespace KernelHarness.Analyzers.Tests.Summaries;

/// <summary>
/// Once every rule has analysed a file, the shared model lets go of the file's bound code. What it concluded
/// stays, and a later question that needs the file's code (a caller in another file asking whether a helper
/// sleeps) binds it again and gets the same answer (on <see cref="CrossFileProject"/>).
/// </summary>
public class FileReleaseTests
{
    private static SyntaxTree Tree(Compilation c, string path) => c.SyntaxTrees.Single(t => t.FilePath == path);

    /// <summary>Every finding of the file's methods, as text, in order.</summary>
    private static string[] Findings(CompilationModel model, SyntaxTree tree)
        => model.Index.MethodsIn(tree).SelectMany(m => model.Analyze(m).Findings)
            .Select(f => $"{f.Id} {f.Location.GetLineSpan()} {string.Join("|", f.Args)} [{string.Join(",", f.Additional.Select(l => l.GetLineSpan().ToString()))}]")
            .ToArray();

    [Fact]
    public void A_file_let_go_of_is_bound_again_for_a_caller_in_another_file_with_the_same_findings()
    {
        var compilation = CrossFileProject.Compile();
        var kept = CompilationModel.CreateUnshared(compilation, structuredBodies: true)!;
        var expected = Findings(kept, Tree(compilation, "Handlers.cs"));
        Assert.Contains(expected, f => f.StartsWith("KH1001", StringComparison.Ordinal));

        var released = CompilationModel.CreateUnshared(compilation, structuredBodies: true)!;
        released.AddFileRule();
        // The helper's file is analysed and let go of before the handler's file asks whether refill() sleeps.
        var helpers = Tree(compilation, "Helpers.cs");
        Assert.Empty(Findings(released, helpers));
        released.FileAnalysed(helpers);
        Assert.Equal(expected, Findings(released, Tree(compilation, "Handlers.cs")));
    }

    [Fact]
    public void A_file_is_let_go_of_only_when_every_rule_is_done_with_it()
    {
        var compilation = CrossFileProject.Compile();
        var model = CompilationModel.CreateUnshared(compilation, structuredBodies: true)!;
        model.AddFileRule();
        model.AddFileRule();
        var helpers = Tree(compilation, "Helpers.cs");
        var body = BodyOf(model, helpers);

        model.FileAnalysed(helpers);
        Assert.Same(body.Target, BodyOf(model, helpers).Target);

        model.FileAnalysed(helpers);
        Assert.NotSame(body.Target, BodyOf(model, helpers).Target);
    }

    [Fact]
    public void A_file_s_provenance_findings_are_let_go_of_with_the_file_and_found_again()
    {
        var compilation = TestProject.Compile(new[] { ("Ring.cs", "static class Ring { static void f() { var p = kmalloc(64, GFP_KERNEL); kfree(p); kfree(p); } }") });
        TestProject.AssertCompiles(compilation);
        var model = CompilationModel.CreateUnshared(compilation, structuredBodies: true)!;
        model.AddFileRule();
        var provenance = KernelHarness.Analyzers.Provenance.ProvenanceModel.Get(model);
        var ring = Tree(compilation, "Ring.cs");
        var kept = provenance.FindingsIn(ring);
        Assert.Contains(kept, f => f.Id == "KH3003");
        Assert.Same(kept, provenance.FindingsIn(ring));

        model.FileAnalysed(ring);
        var again = provenance.FindingsIn(ring);
        Assert.NotSame(kept, again);
        Assert.Equal(kept.Select(f => f.Id + " " + f.Location.GetLineSpan()), again.Select(f => f.Id + " " + f.Location.GetLineSpan()));
    }

    [Fact]
    public void The_operation_trees_of_a_file_let_go_of_can_be_collected()
    {
        var compilation = CrossFileProject.Compile();
        // Through the graphs, so that the graphs the model keeps are let go of too.
        var model = CompilationModel.CreateUnshared(compilation, structuredBodies: false)!;
        model.AddFileRule();
        var helpers = Tree(compilation, "Helpers.cs");
        var body = AnalyseAndRelease(model, helpers);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(body.IsAlive, "the released file's operation tree is still referenced");
        GC.KeepAlive(model);
    }

    /// <summary>The refill() body, held weakly (out of line so that no local keeps it alive).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference BodyOf(CompilationModel model, SyntaxTree tree)
        => new(model.Index.BodyOf(model.Index.MethodsIn(tree).Single(m => m.Name == "refill")));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference AnalyseAndRelease(CompilationModel model, SyntaxTree tree)
    {
        // The engine and its graph see the body before the file is let go of.
        foreach (var m in model.Index.MethodsIn(tree))
            _ = model.Analyze(m);
        var body = BodyOf(model, tree);
        model.FileAnalysed(tree);
        return body;
    }
}
