using System.Linq;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH4003: reading <c>current</c> (or <c>current.mm</c>, <c>current.pid</c> …) in a method registered as a
/// hard-IRQ handler or a softirq callback (tasklet, timer), wherever the registration is in the
/// compilation. A method that tests <c>in_task()</c> is taken to guard its reads.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class CurrentInInterruptAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH4003;

    private protected override void AnalyzeFile(FileContext file)
    {
        foreach (var fn in file.Methods)
            Check(file, fn);
    }

    private static void Check(FileContext file, IMethodSymbol fn)
    {
        var model = file.Model;
        var origin = model.OwnContexts(fn).FirstOrDefault(o => (o.Context & Ctx.Interrupt) != 0);
        if (origin is null)
            return;
        var body = model.Index.BodyOf(fn);
        if (body is null)
            return;
        var k = model.Symbols;
        var ops = Provenance.ProvenanceModel.Descend(body is IAnonymousFunctionOperation a ? a.Body : body).ToList();
        if (ops.Any(o => o is IInvocationOperation i && k.Info(i.TargetMethod).Role == Role.InTaskPredicate))
            return;
        var where = (origin.Context & Ctx.HardIrq) != 0 ? "hard-IRQ context" : "softirq context";
        foreach (var op in ops)
        {
            if (op is not IPropertyReferenceOperation p || k.RoleOf(p.Property) != Role.CurrentTask || op.Syntax.SyntaxTree != file.Tree)
                continue;
            // Report the member read on current (current.pid), or current itself.
            IOperation shown = op;
            if (op.Parent is IMemberReferenceOperation m && m.Instance == op)
                shown = m;
            file.Report(Diagnostic.Create(Descriptors.KH4003, shown.Syntax.GetLocation(), shown.Syntax.ToString(), where, origin.Description));
        }
    }
}
