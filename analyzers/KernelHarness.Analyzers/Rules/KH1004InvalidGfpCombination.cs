using System.Collections.Generic;
using System.Linq;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH1004: more than one zone modifier, highmem or DMA32 for a slab allocation (GFP_SLAB_BUG_MASK),
/// or __GFP_NOFAIL without direct reclaim. A constant check of each allocator's gfp_t argument.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class InvalidGfpCombinationAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH1004;

    private protected override void AnalyzeFile(FileContext file)
    {
        var model = file.Model;
        var k = model.Symbols;
        ulong dma = k.Bit("__GFP_DMA"), high = k.Bit("__GFP_HIGHMEM"), dma32 = k.Bit("__GFP_DMA32"), nofail = k.Bit("__GFP_NOFAIL");
        foreach (var site in file.Operations(OperationKind.Invocation))
        {
            var inv = (IInvocationOperation)site.Operation;
            var info = k.Info(inv.TargetMethod);
            var gfpParam = info.AllocGfp ?? info.SleepIfGfp;
            if (gfpParam is null)
                continue;
            var arg = Eval.Argument(inv.Arguments, gfpParam);
            if (arg is null || Eval.GfpPassed(arg.Value, inv.TargetMethod, root: null) is not var (g, _))
                continue;
            var api = k.DisplayName(inv.TargetMethod) + "()";
            string? problem = null;
            var zones = new List<string>();
            if ((g & dma) != 0) zones.Add("__GFP_DMA");
            if ((g & high) != 0) zones.Add("__GFP_HIGHMEM");
            if ((g & dma32) != 0) zones.Add("__GFP_DMA32");
            if (zones.Count > 1)
                problem = "more than one zone modifier (" + string.Join(" | ", zones) + ")";
            else if ((info.Allocates & (AllocFamily.Kmalloc | AllocFamily.KmemCache)) != 0 && (g & (high | dma32)) != 0)
                problem = ((g & high) != 0 ? "__GFP_HIGHMEM" : "__GFP_DMA32") + " passed to a slab allocator (GFP_SLAB_BUG_MASK)";
            else if ((g & nofail) != 0 && !k.AllowsBlocking(g))
                problem = "__GFP_NOFAIL with flags that may not block: the allocator cannot retry forever without sleeping";
            if (problem is not null)
                file.Report(Diagnostic.Create(Descriptors.KH1004, arg.Value.Syntax.GetLocation(), api, problem));
        }
    }
}
