using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using KernelHarness.Analyzers.ContextEngine;
using KernelHarness.Analyzers.Provenance;
using KernelHarness.Analyzers.Summaries;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Xunit;

namespace KernelHarness.Analyzers.Tests.ContextEngine;

/// <summary>
/// The context and provenance engines walk structured bodies (statements and if/else forks) as written, not
/// through a control-flow graph. They must conclude exactly what the graph would: every finding (rule, place,
/// message), every lock summary and every atomic call site, on the corpora and on shapes chosen to be awkward.
/// </summary>
public class StructuredBodyTests
{
    private const string Awkward = @"
using KernelHarness;
using static KernelHarness.Kernel;

public sealed class Awkward
{
    private readonly spinlock_t lk = new();
    private readonly mutex mtx = new();
    private readonly tasklet_struct t = new();
    private int count;
    private uint irq;

    public int probe(uint line)
    {
        irq = line;
        tasklet_setup(t, x => poll());
        return request_irq(irq, isr, IRQF_SHARED, ""awkward"", this);
    }

    private irqreturn_t isr(int n, object? dev)
    {
        spin_lock(lk);
        count++;
        helper_sleeps();
        spin_unlock(lk);
        return IRQ_HANDLED;
    }

    private void helper_sleeps() => msleep(1);

    private void poll()
    {
        var b = kmalloc(64, GFP_KERNEL);
        kfree(b);
    }

    // A trylock whose result is kept in a local and returned: the caller holds the lock when it is true.
    private bool try_take()
    {
        bool ok = spin_trylock(lk);
        return ok;
    }

    private bool try_take_direct() => spin_trylock(lk);

    public void uses_try()
    {
        if (try_take())
        {
            count++;
            spin_unlock(lk);
        }
    }

    public void forgets_put_cpu()
    {
        int cpu = get_cpu();
        count += cpu;
    }

    public void wrong_variant()
    {
        spin_lock_irqsave(lk, out var flags);
        {
            count++;
        }
        spin_unlock(lk);
    }

    public void irq_off_then_sleep()
    {
        local_irq_save(out ulong flags);
        mutex_lock(mtx);
        mutex_unlock(mtx);
        local_irq_restore(flags);
    }

    public void takes_and_keeps() => spin_lock(lk);

    public void local_function_in_the_middle()
    {
        spin_lock(lk);
        void inner() => msleep(2);
        count++;
        spin_unlock(lk);
        inner();
    }

    public void frees_twice()
    {
        var b = kmalloc(32, GFP_KERNEL);
        kfree(b);
        kfree(b);
    }

    public kptr hands_back()
    {
        var b = kmalloc(32, GFP_KERNEL);
        count++;
        return b;
    }

    public void keeps_in_field(kptr p) => stash = p;

    private kptr stash = NULL;

    public void releases_twice()
    {
        mutex_lock(mtx);
        mutex_unlock(mtx);
        mutex_unlock(mtx);
    }

    // Forks: a trylock tested by the if, conditional locking correlated by one flag, locking on one side only.
    private bool use_lock;

    public void try_then_count()
    {
        if (spin_trylock(lk))
        {
            count++;
            spin_unlock(lk);
        }
        else
            count--;
    }

    public void correlated_locking()
    {
        if (use_lock)
            spin_lock(lk);
        count++;
        if (use_lock)
            spin_unlock(lk);
        msleep(1);
    }

    public void locks_on_one_side(uint n)
    {
        if (n > 0)
            spin_lock(lk);
        msleep(n);
    }

    public int returns_under_one_side(int n)
    {
        if (n > 0)
            mutex_lock(mtx);
        else if (n < 0)
            spin_lock(lk);
        return n;
    }

    // Allocations on forks: a null check, a free on one side only, a free on both.
    public void checks_then_frees()
    {
        var b = kmalloc(16, GFP_KERNEL);
        if (b != NULL)
        {
            ptr_ref<int>(b) = 3;
            kfree(b);
        }
    }

    public void checks_one_way_uses_the_other(int n)
    {
        var b = kzalloc(16, GFP_KERNEL);
        if (b == NULL)
            count++;
        else
            memset(b, 0, 16);
        if (n > 0)
            memset(b, 1, 16);
        kfree(b);
    }

    public void frees_on_one_side(int n)
    {
        var b = kmalloc(16, GFP_KERNEL);
        if (n > 0)
            kfree(b);
    }

    // Early returns of a value on one side of a fork.
    public int early_error_under_lock(int n)
    {
        spin_lock(lk);
        if (n < 0)
            return -EINVAL;
        count += n;
        spin_unlock(lk);
        return 0;
    }

    public int allocates_or_fails()
    {
        var b = kmalloc(32, GFP_KERNEL);
        if (b == NULL)
            return -ENOMEM;
        ptr_ref<int>(b) = 1;
        if (count > 3)
            return -EBUSY;
        kfree(b);
        return 0;
    }

    public bool trylock_or_bail()
    {
        if (!spin_trylock(lk))
            return false;
        count++;
        spin_unlock(lk);
        return true;
    }

    public int both_sides_return(int n)
    {
        mutex_lock(mtx);
        if (n > 0)
        {
            mutex_unlock(mtx);
            return n;
        }
        else
            return -EINVAL;
    }

    public void frees_on_both_sides_and_again(int n)
    {
        var b = kmalloc(16, GFP_KERNEL);
        if (n > 0)
            kfree(b);
        else
            kfree(b);
        kfree(b);
    }
}
";

    public static IEnumerable<object[]> Sources()
    {
        yield return new object[] { "Awkward.cs" };
        foreach (var row in TestProject.CorpusFiles())
            yield return row;
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void Structured_walk_concludes_what_the_graph_concludes(string file)
    {
        var sources = file == "Awkward.cs" ? new() { (file, Awkward) } : TestProject.DriverOf(file);
        var compilation = TestProject.Compile(sources, withUsings: false);
        TestProject.AssertCompiles(compilation);
        var structured = CompilationModel.CreateUnshared(compilation, structuredBodies: true)!;
        var graphs = CompilationModel.CreateUnshared(compilation, structuredBodies: false)!;
        int structuredBodies = 0, forkedBodies = 0;
        foreach (var tree in compilation.SyntaxTrees)
        {
            var methods = structured.Index.MethodsIn(tree);
            var graphMethods = graphs.Index.MethodsIn(tree);
            Assert.Equal(methods.Count, graphMethods.Count);
            for (int i = 0; i < methods.Count; i++)
            {
                if (StructuredBody.Of(structured.Index.BodyOf(methods[i])!) is { } body)
                {
                    structuredBodies++;
                    if (body.Statements.Any(s => s.IsFork))
                        forkedBodies++;
                }
                Assert.Equal(Describe(graphs.Analyze(graphMethods[i])), Describe(structured.Analyze(methods[i])));
                Assert.Equal(Describe(ProvenanceModel.Get(graphs).Analyze(graphMethods[i])), Describe(ProvenanceModel.Get(structured).Analyze(methods[i])));
            }
        }
        Assert.True(structuredBodies > 0, "no body of " + file + " took the structured walk");
        if (file == "Awkward.cs")
            Assert.True(forkedBodies >= 12, "the awkward source's forks did not take the structured walk");
    }

    [Fact]
    public void The_awkward_source_draws_the_findings_it_was_written_for()
    {
        var compilation = TestProject.Compile(new[] { ("Awkward.cs", Awkward) }, withUsings: false);
        var ids = TestProject.Analyze(compilation, TestProject.AllAnalyzers).Select(d => d.Id).ToHashSet();
        // msleep under the spinlock in the handler (through helper_sleeps), GFP_KERNEL in the tasklet,
        // get_cpu without put_cpu, spin_lock_irqsave released by spin_unlock, mutex_lock with interrupts off,
        // the unbalanced mutex_unlock, and the kfree of a buffer already freed.
        Assert.Subset(ids, new HashSet<string> { "KH1001", "KH1002", "KH2001", "KH2003", "KH2004", "KH3003" });
    }

    [Theory]
    [InlineData("if (count > 0) return; count--;")]
    [InlineData("if (count > 0) { count--; return; }")]
    [InlineData("if (count > 0 && count < 9) count--;")]
    [InlineData("if (name is string) count--;")]
    [InlineData("if (count == 1) count++; if (count == 2) count++; if (count == 3) count++; if (count == 4) count++; if (count == 5) count++;")]
    [InlineData("count = count > 0 ? 1 : 2;")]
    [InlineData("bool b = count > 0 && count < 9;")]
    [InlineData("object? o = name ?? \"x\";")]
    [InlineData("int? n = name?.Length;")]
    [InlineData("int v = count switch { 0 => 1, _ => 2 };")]
    [InlineData("bool p = name is string;")]
    [InlineData("while (count > 0) count--;")]
    [InlineData("try { count++; } finally { count--; }")]
    [InlineData("lock (gate) { count++; }")]
    [InlineData("var l = new System.Collections.Generic.List<int> { 1 };")]
    [InlineData("return; count++;")]
    [InlineData("throw new System.InvalidOperationException();")]
    public void A_body_the_walk_cannot_follow_goes_to_the_graph(string statements)
    {
        Assert.Null(StructuredBody.Of(BodyOf(statements)));
    }

    [Theory]
    [InlineData("count++; name = name + count;")]
    [InlineData("int a = count; { a++; count = a; }")]
    [InlineData("var s = $\"{count}\"; name = s;")]
    [InlineData("System.Action f = () => { if (count > 0) count--; }; f();")]
    [InlineData("count++; return;")]
    [InlineData("if (count > 0) count--;")]
    [InlineData("if (count > 0) { count--; } else if (count < 0) { count++; } else { name = null; }")]
    [InlineData("if (count > 0) { if (name != null) count--; } count++;")]
    [InlineData("if (count > 0) count--; else { count++; }")]
    public void A_body_of_statements_and_forks_is_structured(string statements)
    {
        Assert.NotNull(StructuredBody.Of(BodyOf(statements)));
    }

    private static IOperation BodyOf(string statements)
    {
        var source = "public class C { int count; string? name; readonly object gate = new(); void m() { " + statements + " } }";
        var compilation = TestProject.Compile(new[] { ("C.cs", source) }, withUsings: true);
        var tree = compilation.SyntaxTrees.First();
        var method = tree.GetRoot().DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.MethodDeclarationSyntax>().Single();
        return compilation.GetSemanticModel(tree).GetOperation(method)!;
    }

    private static string Describe(IEnumerable<Finding> findings)
        => string.Join("\n", findings
            .Select(f => f.Id + "@" + f.Location.SourceSpan + "+" + string.Join(",", f.Additional.Select(l => l.SourceSpan.ToString())) + ": " + string.Join("|", f.Args))
            .OrderBy(s => s, StringComparer.Ordinal));

    private static string Describe(MethodAnalysis a)
    {
        var findings = new[] { Describe(a.Findings) };
        var summary = a.Summary.Acquires.Select(e => "acquires " + e)
            .Concat(a.Summary.Releases.Select(e => "releases " + e));
        return string.Join("\n", findings.Concat(summary)
            .Append("atomic calls at " + string.Join(",", a.AtomicCallSites.OrderBy(x => x)))
            .Append("atomic gfp " + string.Join(",", a.AtomicGfpSites.Select(s => s.Location.SourceSpan + ":" + s.AtomicOnSomePath)))
            .Append("recursion " + a.HitRecursion));
    }
}
