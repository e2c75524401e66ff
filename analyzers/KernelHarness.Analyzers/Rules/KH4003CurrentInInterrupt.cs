using System.Collections.Generic;
using System.Linq;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH4003: reading <c>current</c> (or <c>current.mm</c>, <c>current.pid</c> …) in a method registered as a
/// hard-IRQ handler or a softirq callback (tasklet, timer), wherever the registration is in the
/// compilation, or in a helper such a method calls (to any depth). A read that <c>in_task()</c> guards is not
/// reported: inside <c>if (in_task())</c> (or <c>in_task() ? … : …</c>, <c>in_task() &amp;&amp; …</c>), or after
/// <c>if (!in_task()) return …;</c>. A method that tests <c>in_task()</c> some other way (a result kept in a local)
/// is taken to guard all its reads, and a caller that tests it, the calls it makes.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class CurrentInInterruptAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH4003;

    private protected override void AnalyzeFile(FileContext file)
    {
        // Most files never read current: the functions to check are those whose own code does, found from the
        // file's property reads (which the index keeps) rather than by walking every body.
        var k = file.Symbols;
        HashSet<IMethodSymbol>? readers = null;
        foreach (var site in file.Operations(OperationKind.PropertyReference))
            if (k.RoleOf(((IPropertyReferenceOperation)site.Operation).Property) == Role.CurrentTask && CompilationIndex.EnclosingFunction(site) is { } fn)
                (readers ??= new HashSet<IMethodSymbol>(SymbolEqualityComparer.Default)).Add(fn);
        if (readers is null)
            return;
        foreach (var fn in file.Methods)
            if (readers.Contains(fn))
                Check(file, fn);
    }

    private static void Check(FileContext file, IMethodSymbol fn)
    {
        var model = file.Model;
        var k = model.Symbols;
        var body = model.Index.BodyOf(fn);
        if (body is null)
            return;
        bool IsInTask(IOperation o) => o is IInvocationOperation i && k.Info(i.TargetMethod).Role == Role.InTaskPredicate;
        bool TestsInTask(IEnumerable<IOperation> code) => code.Any(IsInTask);
        bool ReadsCurrent(IOperation o) => o is IPropertyReferenceOperation p && k.RoleOf(p.Property) == Role.CurrentTask;
        var ops = Eval.OwnOperations(body).ToList();
        var tests = ops.Where(IsInTask).ToList();
        // Tests the engine cannot place (a result kept in a local, passed on) guard the whole function, as before.
        if (tests.Count > 0 && !tests.All(t => InTaskGuard.IsBranchTest(t)))
            return;
        // A caller that tests in_task() guards the calls it makes.
        var reached = model.EntryReaching(fn, o => (o.Context & Ctx.Interrupt) != 0, maxDepth: 6,
            guarded: caller => model.Index.BodyOf(caller) is not { } callerBody || TestsInTask(Eval.OwnOperations(callerBody)));
        if (reached is null)
            return;
        var (origin, chain) = reached.Value;
        var where = (origin.Context & Ctx.HardIrq) != 0 ? "hard-IRQ context" : "softirq context";
        var why = chain.Length == 0 ? origin.Description : chain + ", and " + origin.Description;
        foreach (var op in ops)
        {
            if (!ReadsCurrent(op) || op.Syntax.SyntaxTree != file.Tree)
                continue;
            if (tests.Count > 0 && InTaskGuard.Guards(op, IsInTask))
                continue;
            // Report the member read on current (current.pid), or current itself.
            IOperation shown = op;
            if (op.Parent is IMemberReferenceOperation m && m.Instance == op)
                shown = m;
            file.Report(Diagnostic.Create(Descriptors.KH4003, shown.Syntax.GetLocation(), shown.Syntax.ToString(), where, why));
        }
    }
}

/// <summary>
/// Where an <c>in_task()</c> test guards code: the branch it selects, and what follows an early exit on its negation.
/// Syntax-directed (the structured shapes students write), so a read is guarded only where every path to it passed
/// the test.
/// </summary>
internal static class InTaskGuard
{
    /// <summary>
    /// Is the test used to branch (an if's or a ?:'s condition, or the left of <c>&amp;&amp;</c> / <c>||</c>, through
    /// <c>!</c>), not kept in a local or passed on?
    /// </summary>
    public static bool IsBranchTest(IOperation test)
    {
        var at = test;
        while (at.Parent is IUnaryOperation { OperatorKind: UnaryOperatorKind.Not } or IParenthesizedOperation or IConversionOperation)
            at = at.Parent;
        return at.Parent switch
        {
            IConditionalOperation c => ReferenceEquals(c.Condition, at),
            IBinaryOperation { OperatorKind: BinaryOperatorKind.ConditionalAnd or BinaryOperatorKind.ConditionalOr } b =>
                ReferenceEquals(b.LeftOperand, at) || IsBranchTest(b),
            _ => false,
        };
    }

    /// <summary>Does an <c>in_task()</c> test guard <paramref name="op"/>: every way to it passed a test that was true?</summary>
    public static bool Guards(IOperation op, System.Func<IOperation, bool> isInTask)
    {
        for (IOperation child = op, parent = op.Parent!; parent is not null; child = parent, parent = parent.Parent!)
        {
            switch (parent)
            {
                case IConditionalOperation c when ReferenceEquals(c.WhenTrue, child) && Implies(c.Condition, true, isInTask):
                case IConditionalOperation c2 when ReferenceEquals(c2.WhenFalse, child) && Implies(c2.Condition, false, isInTask):
                case IBinaryOperation { OperatorKind: BinaryOperatorKind.ConditionalAnd } both when ReferenceEquals(both.RightOperand, child) && Implies(both.LeftOperand, true, isInTask):
                    return true;
                case IBinaryOperation { OperatorKind: BinaryOperatorKind.ConditionalOr } either when ReferenceEquals(either.RightOperand, child) && Implies(either.LeftOperand, false, isInTask):
                    return true;
                case IBlockOperation block:
                {
                    // if (!in_task()) return …; — what follows runs in task context only, up to a label a goto may
                    // reach from before the test.
                    bool guarded = false;
                    foreach (var statement in block.Operations)
                    {
                        if (statement is ILabeledOperation)
                            guarded = false;
                        if (ReferenceEquals(statement, child))
                            break;
                        if (statement is IConditionalOperation { WhenFalse: null } exit && Exits(exit.WhenTrue) && Implies(exit.Condition, false, isInTask))
                            guarded = true;
                    }
                    if (guarded)
                        return true;
                    break;
                }
                case IAnonymousFunctionOperation or ILocalFunctionOperation:
                    return false; // a lambda runs elsewhere, whenever it is called
            }
        }
        return false;
    }

    /// <summary>Does <paramref name="condition"/> being <paramref name="value"/> imply that in_task() returned true?</summary>
    private static bool Implies(IOperation condition, bool value, System.Func<IOperation, bool> isInTask)
    {
        var c = Eval.Unwrap(condition);
        if (isInTask(c))
            return value;
        return c switch
        {
            IUnaryOperation { OperatorKind: UnaryOperatorKind.Not } not => Implies(not.Operand, !value, isInTask),
            IBinaryOperation { OperatorKind: BinaryOperatorKind.ConditionalAnd } both => value && (Implies(both.LeftOperand, true, isInTask) || Implies(both.RightOperand, true, isInTask)),
            IBinaryOperation { OperatorKind: BinaryOperatorKind.ConditionalOr } either => !value && (Implies(either.LeftOperand, false, isInTask) || Implies(either.RightOperand, false, isInTask)),
            _ => false,
        };
    }

    /// <summary>Does the statement always leave (return, throw, break, continue, goto)?</summary>
    private static bool Exits(IOperation statement) => statement switch
    {
        IReturnOperation or IThrowOperation or IBranchOperation => true,
        IExpressionStatementOperation { Operation: IThrowOperation } => true,
        IBlockOperation { Operations: { Length: > 0 } ops } => Exits(ops[ops.Length - 1]),
        _ => false,
    };
}
