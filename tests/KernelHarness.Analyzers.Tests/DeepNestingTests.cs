using System.Linq;
using KernelHarness.Analyzers.Summaries;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;

namespace KernelHarness.Analyzers.Tests;

/// <summary>
/// Code nested deeper than <see cref="CompilationIndex.MaxNesting"/> statements or <see cref="CompilationIndex.MaxDepth"/>
/// syntax levels (a hostile submission, or generated code) is left unanalysed instead of overflowing the stack in Roslyn's operation factory, which would kill the
/// compiler or the IDE's analyzer host; the rest of the file is analysed as usual.
/// </summary>
public class DeepNestingTests
{
    private static string Repeat(string s, int n) => string.Concat(Enumerable.Repeat(s, n));

    private static string Driver(string deepBody) => $$"""
using KernelHarness;
using static KernelHarness.Kernel;

public class Dev
{
    private readonly spinlock_t lk = new();
    private int pending;

    private int poll(int v) => v;

    public void deep()
    {
        {{deepBody}}
    }

    public void shallow()
    {
        spin_lock(lk);
        msleep(1);
        spin_unlock(lk);
    }
}
""";

    private static string[] FindingsIn(string source, string method)
    {
        var compilation = TestProject.Compile(new[] { ("Dev.cs", source) }, withUsings: false);
        TestProject.AssertCompiles(compilation);
        var tree = compilation.SyntaxTrees.First();
        var span = tree.GetRoot().DescendantNodes().OfType<MethodDeclarationSyntax>().Single(m => m.Identifier.ValueText == method).Span;
        return TestProject.Analyze(compilation, TestProject.AllAnalyzers).Where(d => span.Contains(d.Location.SourceSpan)).Select(d => d.Id).ToArray();
    }

    [Fact]
    public void Three_thousand_nested_ifs_are_skipped_and_the_rest_of_the_file_is_analysed()
    {
        var source = Driver("spin_lock(lk);\n" + Repeat("if (pending > 0) { ", 3000) + "msleep(1);" + Repeat("}", 3000) + "\nspin_unlock(lk);");
        Assert.Empty(FindingsIn(source, "deep"));
        Assert.Equal(new[] { "KH1001" }, FindingsIn(source, "shallow"));
    }

    [Fact]
    public void Four_hundred_nested_lambdas_are_skipped()
    {
        var source = Driver("System.Func<int, int> f = " + Repeat("x => poll(((System.Func<int, int>)(", 400) + "x => x" + Repeat("))(x))", 400) + ";");
        Assert.Empty(FindingsIn(source, "deep"));
        Assert.Equal(new[] { "KH1001" }, FindingsIn(source, "shallow"));
    }

    [Fact]
    public void Nesting_within_the_limit_is_analysed()
    {
        // 60 nested blocks: 120 levels, under the limit; the sleep under the spinlock is found at the bottom.
        var source = Driver("spin_lock(lk);\n" + Repeat("if (pending > 0) { ", 60) + "msleep(1);" + Repeat("}", 60) + "\nspin_unlock(lk);");
        Assert.Equal(new[] { "KH1001" }, FindingsIn(source, "deep"));
    }

    [Fact]
    public void A_long_else_if_chain_is_one_level()
    {
        var arms = string.Concat(Enumerable.Range(1, 500).Select(i => $" else if (pending == {i}) pending--;"));
        var source = Driver("spin_lock(lk);\nif (pending == 0) pending++;" + arms + " else msleep(1);\nspin_unlock(lk);");
        Assert.Equal(new[] { "KH1001" }, FindingsIn(source, "deep"));
    }

    [Fact]
    public void A_twenty_thousand_term_sum_is_skipped_and_the_rest_of_the_file_is_analysed()
    {
        // Roslyn compiles a left-deep chain of binary operators without recursing; the rules' walks would not.
        var source = Driver("int x = " + Repeat("pending + ", 20000) + "poll(1);\nspin_lock(lk);\nmsleep(1);\nspin_unlock(lk);");
        Assert.Empty(FindingsIn(source, "deep"));
        Assert.Equal(new[] { "KH1001" }, FindingsIn(source, "shallow"));
    }

    [Fact]
    public void An_else_if_chain_past_the_depth_limit_is_skipped()
    {
        // Two syntax levels an arm: 1,200 arms are 2,400 levels. (A 20,000-arm chain overflowed the rules' walks on
        // a 1 MB thread, but takes the compiler minutes to bind.)
        var arms = string.Concat(Enumerable.Range(1, 1200).Select(i => $" else if (pending == {i}) pending--;"));
        var source = Driver("spin_lock(lk);\nif (pending == 0) pending++;" + arms + " else msleep(1);\nspin_unlock(lk);");
        Assert.Empty(FindingsIn(source, "deep"));
        Assert.Equal(new[] { "KH1001" }, FindingsIn(source, "shallow"));
    }

    [Fact]
    public void A_long_sum_within_the_depth_limit_is_analysed()
    {
        var source = Driver("int x = " + Repeat("pending + ", 1500) + "poll(1);\nspin_lock(lk);\nmsleep(1);\nspin_unlock(lk);");
        Assert.Equal(new[] { "KH1001" }, FindingsIn(source, "deep"));
    }

    private static string CallChain(int functions)
        => "spin_lock(lk);\n        chain0();\n        spin_unlock(lk);\n    }\n"
           + string.Concat(Enumerable.Range(0, functions).Select(i => $"\n    private void chain{i}() {{ chain{i + 1}(); }}"))
           + $"\n    private void chain{functions}() {{ msleep(1); }}\n    private void unused() {{";

    [Fact]
    public void A_call_chain_of_five_thousand_functions_does_not_overflow_the_stack()
    {
        // Each function's may-sleep summary asks for its callee's: past CallStack.MaxDepth calls the question
        // gets recursion's provisional answer (a 5,000-function chain overflowed the stack before).
        var source = Driver(CallChain(5000));
        Assert.Equal(new[] { "KH1001" }, FindingsIn(source, "shallow"));
    }

    [Fact]
    public void A_call_chain_within_the_depth_limit_is_followed()
    {
        var source = Driver(CallChain(40));
        Assert.Equal(new[] { "KH1001" }, FindingsIn(source, "deep"));
    }

    [Fact]
    public void A_chain_of_deeply_nested_calls_does_not_overflow_the_stack()
    {
        // Each link nests its call of the next 300 calls deep (900 syntax levels, within the body limit), and each
        // callee's question is asked from the bottom of its caller's walk: 40 links overflowed the stack before
        // StackRoom moved the questions of a long chain to a thread with room.
        var links = string.Concat(Enumerable.Range(0, 40).Select(i => $"\n    private int link{i}(int v) => {Repeat("poll(", 300)}link{i + 1}(v){Repeat(")", 300)};"));
        var source = Driver("spin_lock(lk);\n        link0(1);\n        spin_unlock(lk);\n    }\n" + links + "\n    private int link40(int v) { msleep(1); return v; }\n    private void unused() {");
        int moved = StackRoom.Moved;
        Assert.Equal(new[] { "KH1001" }, FindingsIn(source, "deep"));
        Assert.True(StackRoom.Moved > moved);
    }

    [Fact]
    public void A_question_moved_to_a_fresh_thread_brings_back_its_answer_or_its_exception()
    {
        Assert.Equal(42, StackRoom.OnFreshThread(() => 42));
        var e = Assert.Throws<System.InvalidOperationException>(() => StackRoom.OnFreshThread<int>(() => throw new System.InvalidOperationException("from the callee")));
        Assert.Equal("from the callee", e.Message);
    }

    [Theory]
    [InlineData(1996, false)] // the body's block, the statement, the assignment, 1,996 additions and the last name: 2,000 levels
    [InlineData(1997, true)]
    public void The_depth_limit_counts_every_syntax_level(int additions, bool tooDeep)
    {
        var method = SyntaxFactory.ParseMemberDeclaration("void f() { x = " + Repeat("a + ", additions) + "a; }")!;
        Assert.Equal(tooDeep, CompilationIndex.NestsTooDeep(method));
    }

    [Theory]
    [InlineData(126, false)] // the body's block, 126 ifs and the call: 128 levels
    [InlineData(127, true)]
    public void The_limit_counts_nested_statements(int ifs, bool tooDeep)
    {
        var method = SyntaxFactory.ParseMemberDeclaration("void f() { " + Repeat("if (a) ", ifs) + "g(); }")!;
        Assert.Equal(tooDeep, CompilationIndex.NestsTooDeep(method));
    }

    [Theory]
    [InlineData(63, false)] // the body's block, the declaration, 63 lambdas of two levels and the innermost x: 128
    [InlineData(64, true)]
    public void A_simple_lambda_counts_two_levels_though_written_with_one_arrow(int lambdas, bool tooDeep)
    {
        // The cheap test by the body's text must not let these through: one "=>" per two levels.
        var method = SyntaxFactory.ParseMemberDeclaration("void f() { F f = " + Repeat("x => ", lambdas) + "x; }")!;
        Assert.Equal(tooDeep, CompilationIndex.NestsTooDeep(method));
    }

    [Theory]
    [InlineData(126, false)]
    [InlineData(127, true)]
    public void Nested_blocks_with_a_plain_statement_inside_are_counted(int blocks, bool tooDeep)
    {
        // No '(' at all: the innermost statement is the one level without a mark.
        var method = SyntaxFactory.ParseMemberDeclaration("void f() " + Repeat("{ ", blocks + 1) + "x = 1;" + Repeat(" }", blocks + 1))!;
        Assert.Equal(tooDeep, CompilationIndex.NestsTooDeep(method));
    }
}
