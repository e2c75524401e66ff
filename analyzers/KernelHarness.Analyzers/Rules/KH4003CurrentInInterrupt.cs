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
/// compilation, or in a helper such a method calls (to any depth). A method that tests <c>in_task()</c> is taken
/// to guard its reads, and a caller that tests it, the calls it makes.
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
        bool TestsInTask(IEnumerable<IOperation> code) => code.Any(o => o is IInvocationOperation i && k.Info(i.TargetMethod).Role == Role.InTaskPredicate);
        bool ReadsCurrent(IOperation o) => o is IPropertyReferenceOperation p && k.RoleOf(p.Property) == Role.CurrentTask;
        var ops = Eval.OwnOperations(body).ToList();
        if (TestsInTask(ops))
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
            // Report the member read on current (current.pid), or current itself.
            IOperation shown = op;
            if (op.Parent is IMemberReferenceOperation m && m.Instance == op)
                shown = m;
            file.Report(Diagnostic.Create(Descriptors.KH4003, shown.Syntax.GetLocation(), shown.Syntax.ToString(), where, why));
        }
    }
}
